"""moto_server with DynamoDB's writes serialized, as DynamoDB serializes them.

moto_server handles requests on threads, and its DynamoDB backend checks a
condition and then writes without a lock: two conditional writes arriving at
the same moment can both pass (DynamoDB never lets them). autorepair's lock,
claim and commits rest on that guarantee, and the tests that race them would
otherwise fail now and then for the emulator's sake, not ours. This wraps each
DynamoDB write in one process-wide lock and then runs moto_server unchanged.

Usage: python serialized_dynamodb.py [moto_server arguments]
"""

import functools
import threading

from moto.dynamodb.models import DynamoDBBackend
from moto.server import main

_WRITES = threading.RLock()


def _serialized(method):
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with _WRITES:
            return method(*args, **kwargs)

    return wrapper


for _name in (
    "put_item",
    "update_item",
    "delete_item",
    "transact_write_items",
    "batch_write_item",
):
    setattr(DynamoDBBackend, _name, _serialized(getattr(DynamoDBBackend, _name)))

if __name__ == "__main__":
    main()
