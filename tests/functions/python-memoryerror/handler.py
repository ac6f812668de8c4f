import hashlib


def handler(event, context):
    # The whole document in memory at once: fine for small inputs, too much
    # for the function's memory on a large one.
    size = int(event.get("size_mb", 1)) * 1024 * 1024
    document = bytearray(size)
    for offset in range(0, size, 4096):
        document[offset] = offset % 251
    return {"bytes": size, "sha256": hashlib.sha256(document).hexdigest()}
