"""A Lambda custom-runtime loop for Python handlers, as Lambda's own runtime
runs them: import the handler once (the init phase), then take invocations
from the Runtime API one at a time and post each result or error back.

It runs inside a local execution environment (tests/src/functions): a process
group in a memory cgroup. An exception is logged as Lambda's Python runtime
logs it (`[ERROR] Type: message` and the traceback). After each invocation it
prints a marker line (NUL, "autorepair-end", the request id) before posting,
so the environment knows the invocation's output has all been read.
"""

import importlib
import json
import os
import sys
import time
import traceback
import urllib.request

API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/"


def call(route, body=None):
    data = None if body is None else body.encode()
    request = urllib.request.Request(API + route, data=data, method="GET" if data is None else "POST")
    with urllib.request.urlopen(request) as response:
        return response.headers, response.read()


def describe(error):
    return {
        "errorMessage": str(error),
        "errorType": type(error).__name__,
        "stackTrace": traceback.format_tb(error.__traceback__),
    }


class Context:
    def __init__(self, headers):
        self.aws_request_id = headers["Lambda-Runtime-Aws-Request-Id"]
        self.invoked_function_arn = headers.get("Lambda-Runtime-Invoked-Function-Arn", "")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
        self._deadline = int(headers.get("Lambda-Runtime-Deadline-Ms", "0"))

    def get_remaining_time_in_millis(self):
        return self._deadline - int(time.time() * 1000)


def main():
    sys.path.insert(0, os.environ["LAMBDA_TASK_ROOT"])
    module, name = os.environ["_HANDLER"].rsplit(".", 1)
    try:
        handler = getattr(importlib.import_module(module), name)
    except Exception as error:  # the init phase failed: Lambda reports it and ends
        print(f"[ERROR] Runtime.ImportModuleError: {error}", flush=True)
        call("init/error", json.dumps(describe(error)))
        sys.exit(1)
    while True:
        headers, body = call("invocation/next")
        context = Context(headers)
        try:
            result = handler(json.loads(body or b"null"), context)
            route, answer = "response", json.dumps(result)
        except Exception as error:
            # One log event, as Lambda writes it: the lines joined by CR.
            text = f"[ERROR] {type(error).__name__}: {error}\nTraceback (most recent call last):\n"
            text += "".join(traceback.format_tb(error.__traceback__))
            print(text.rstrip("\n").replace("\n", "\r"), flush=True)
            route, answer = "error", json.dumps(describe(error))
        sys.stdout.write(f"\0autorepair-end {context.aws_request_id}\n")
        sys.stdout.flush()
        call(f"invocation/{context.aws_request_id}/{route}", answer)


if __name__ == "__main__":
    main()
