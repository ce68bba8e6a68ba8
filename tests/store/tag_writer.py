"""A tag-writing process for the concurrency and crash tests: prints 'ack KEY' after each tag is saved.

usage: python tests/store/tag_writer.py DATA_DIR OWNER PREFIX COUNT [BATCH]
BATCH > 1 writes batches of BATCH keys with one set_many (printing 'ack-batch N KEY...' once saved).
"""

from __future__ import annotations

import sys

from alignment.store.tags import TagDatabase


def main(data_dir: str, owner: str, prefix: str, count: int, batch: int = 1) -> None:
    tags = TagDatabase(data_dir).tags(owner=owner, dataset="d" * 16)
    print("ready", flush=True)
    for n in range(count):
        if batch > 1:
            keys = [f"{prefix}{n}-{i}" for i in range(batch)]
            tags.set_many(keys, "data error", f"batch {n} " + "x" * 500)
            print("ack-batch", n, " ".join(keys), flush=True)
        else:
            key = f"{prefix}{n}"
            tags.set(key, "model error", f"note {n}")
            print("ack", key, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]) if len(sys.argv) > 5 else 1)
