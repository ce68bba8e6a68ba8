"""Views: plotly figures, the HTML report and 2-D projections (pure: arrays in, figures out)."""
