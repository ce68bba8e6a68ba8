"""The Search tab: query a gallery by text, image, sound or a mix, and open any result's explanation."""
