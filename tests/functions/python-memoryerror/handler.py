import hashlib


def handler(event, context):
    # Reads the whole document into memory, a megabyte at a time, before
    # checksumming it: fine for small inputs, too much for the function's
    # memory on a large one.
    chunks = []
    for n in range(int(event.get("size_mb", 1))):
        chunks.append(bytes([n % 251]) * (1024 * 1024))
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return {"megabytes": len(chunks), "sha256": digest.hexdigest()}
