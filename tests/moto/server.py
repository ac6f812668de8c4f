"""moto_server, with four differences from AWS it would otherwise show closed.

DynamoDB's writes serialized, as DynamoDB serializes them: moto_server handles
requests on threads, and its DynamoDB backend checks a condition and then
writes without a lock: two conditional writes arriving at the same moment can
both pass (DynamoDB never lets them). autorepair's lock, claim and commits
rest on that guarantee, and the tests that race them would otherwise fail now
and then for the emulator's sake, not ours. Each DynamoDB write runs under one
process-wide lock.

State machines a CloudFormation stack creates are the ones Step Functions'
API serves: with `stepfunctions.execute_state_machine` on, moto's API answers
from its executing backend while its CloudFormation creates state machines in
the other one, where nothing can start them. CloudFormation's state machines
go to whichever backend the API uses.

A role's inline policies from a CloudFormation stack read back as JSON, as
IAM returns them: moto's CloudFormation stores the document as Python's repr
of a dict ({'Version': ...}), which no IAM client can parse.

A table's encryption from a CloudFormation stack is its encryption: moto's
CloudFormation passes SSESpecification on with the template's key names
(SSEEnabled) where the table reads the API's (Enabled), so the table reads
back unencrypted.

Then moto_server runs unchanged.

Usage: python server.py [moto_server arguments]
"""

import functools
import json
import threading

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.iam.models import Role
from moto.stepfunctions import models as stepfunctions_models
from moto.stepfunctions.responses import get_backend as stepfunctions_api_backend
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



class _ApiBackends:
    """`stepfunctions_backends[account][region]` as the API resolves it."""

    def __getitem__(self, account):
        return _ApiRegions(account)


class _ApiRegions:
    def __init__(self, account):
        self.account = account

    def __getitem__(self, region):
        return stepfunctions_api_backend(self.account, region)


# Only the CloudFormation hooks of moto.stepfunctions.models read this name.
stepfunctions_models.stepfunctions_backends = _ApiBackends()

_put_role_policy = Role.put_policy


def _put_role_policy_as_json(self, policy_name, policy_json):
    if not isinstance(policy_json, str):
        policy_json = json.dumps(policy_json)
    return _put_role_policy(self, policy_name, policy_json)


Role.put_policy = _put_role_policy_as_json

_table_init = Table.__init__


def _table_init_with_cloudformation_sse(self, *args, sse_specification=None, **kwargs):
    if sse_specification and "SSEEnabled" in sse_specification:
        sse_specification = dict(sse_specification)
        sse_specification.setdefault("Enabled", sse_specification.pop("SSEEnabled"))
    _table_init(self, *args, sse_specification=sse_specification, **kwargs)


Table.__init__ = _table_init_with_cloudformation_sse

if __name__ == "__main__":
    main()
