"""infrastructure/template.yaml as CloudFormation creates it: through
aws-sam-translator, the library `sam deploy` and CloudFormation's own
AWS::Serverless transform use, then adapted where moto's CloudFormation
differs from AWS's. Prints the template as JSON.

One step stands in for `sam package`, which needs the functions built and an
S3 bucket: every function's code is the `--code-uri` object, and each state
machine's definition file is named by an S3 location beside it.

One step stands in for CloudFormation where moto falls short: moto's
AWS::StepFunctions::StateMachine reads neither DefinitionS3Location nor
DefinitionSubstitutions, so the definition file's text goes in as
DefinitionString with each `${Name}` replaced by its substitution (an
Fn::Join of the text's pieces and the values), which is what CloudFormation
does with the S3 object. Not Fn::Sub: moto's turns the definition's `$$.`
context paths into `$.`, CloudFormation's would not.

With `--create STACK --endpoint http://127.0.0.1:PORT` it also creates the
stack in that moto_server (the code object first: a placeholder, since the
tests serve the functions' real bootstrap themselves) and prints, as JSON, the
stack's status, outputs and resources instead of the template.

Usage: python sam_transform.py TEMPLATE --code-uri s3://BUCKET/KEY
           [--parameter NAME=VALUE ...] [--region REGION]
           [--create STACK --endpoint URL]
"""

import argparse
import json
import os
import re
import sys

import yaml
from samtranslator.translator.transform import transform


class NoManagedPolicies:
    """The template names no managed policy by name: a lookup is a mistake
    (SAM would ask IAM, and the test would depend on the account)."""

    def load(self):
        return {}


def packaged(template, code_uri):
    """What `sam package` leaves: code and definitions in S3. Returns the
    template and each state machine's local definition file."""
    bucket = code_uri[len("s3://") :].split("/", 1)[0]
    globals_ = template.get("Globals", {}).get("Function", {})
    if "CodeUri" in globals_:
        globals_["CodeUri"] = code_uri
    definitions = {}
    for name, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            properties["CodeUri"] = code_uri
        if resource["Type"] == "AWS::Serverless::StateMachine":
            uri = properties.get("DefinitionUri")
            if isinstance(uri, str):
                definitions[name] = uri
                properties["DefinitionUri"] = {"Bucket": bucket, "Key": uri}
    return template, definitions


def substituted(text, substitutions):
    """`text` with every `${Name}` of `substitutions` replaced by its value,
    as an Fn::Join (the values may be intrinsics)."""
    pieces = re.split(r"\$\{([A-Za-z0-9_]+)\}", text)
    parts = [pieces[0]]
    for name, literal in zip(pieces[1::2], pieces[2::2]):
        parts.append(substitutions.get(name, "${" + name + "}"))
        parts.append(literal)
    return {"Fn::Join": ["", [p for p in parts if p != ""]]}


def for_moto(template, base, definitions):
    """Each definition file's text, its substitutions applied."""
    for name, path in definitions.items():
        properties = template["Resources"][name]["Properties"]
        location = properties.pop("DefinitionS3Location")
        assert location["Key"] == path, (name, location)
        with open(os.path.join(base, path), encoding="utf-8") as f:
            text = f.read()
        substitutions = properties.pop("DefinitionSubstitutions", None)
        properties["DefinitionString"] = (
            substituted(text, substitutions) if substitutions else text
        )
    return template


def create(endpoint, region, stack, template, code_uri, parameters):
    """Creates `stack` in the moto_server at `endpoint` (loopback only);
    its status, outputs and resources."""
    import io
    import time
    import zipfile

    import boto3

    if not endpoint.startswith("http://127.0.0.1:"):
        raise SystemExit(f"refusing to create a stack anywhere but loopback: {endpoint}")
    client = lambda service: boto3.client(  # noqa: E731
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    bucket, key = code_uri[len("s3://") :].split("/", 1)
    s3 = client("s3")
    s3.create_bucket(Bucket=bucket)
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("bootstrap", "#!/bin/sh\n# served by the tests' local Lambda\n")
    s3.put_object(Bucket=bucket, Key=key, Body=code.getvalue())

    cloudformation = client("cloudformation")
    cloudformation.create_stack(
        StackName=stack,
        TemplateBody=json.dumps(template),
        Parameters=[
            {"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()
        ],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
    )
    deadline = time.monotonic() + 60
    while True:
        described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
        if not described["StackStatus"].endswith("_IN_PROGRESS"):
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"{stack} still {described['StackStatus']} after 60 s")
        time.sleep(0.2)
    resources = []
    pages = cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack)
    for page in pages:
        for r in page["StackResourceSummaries"]:
            resources.append(
                {
                    "logical": r.get("LogicalResourceId", ""),
                    "type": r.get("ResourceType", ""),
                    "physical": r.get("PhysicalResourceId", ""),
                    "status": r.get("ResourceStatus", ""),
                }
            )
    return {
        "status": described["StackStatus"],
        "reason": described.get("StackStatusReason"),
        "outputs": {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])},
        "resources": resources,
        "template": template,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("template")
    parser.add_argument("--code-uri", required=True)
    parser.add_argument("--parameter", action="append", default=[])
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--create", metavar="STACK")
    parser.add_argument("--endpoint")
    args = parser.parse_args()

    # The translator reads the region (for ARNs' partition) from boto's
    # environment; no call leaves the machine.
    os.environ.setdefault("AWS_DEFAULT_REGION", args.region)
    with open(args.template, encoding="utf-8") as f:
        template = yaml.safe_load(f)
    base = os.path.dirname(os.path.abspath(args.template))
    parameters = dict(p.split("=", 1) for p in args.parameter)
    template, definitions = packaged(template, args.code_uri)
    cloudformation = transform(template, parameters, NoManagedPolicies())
    template = for_moto(cloudformation, base, definitions)
    if args.create:
        if not args.endpoint:
            raise SystemExit("--create needs --endpoint (a moto_server on 127.0.0.1)")
        template = create(
            args.endpoint, args.region, args.create, template, args.code_uri, parameters
        )
    json.dump(template, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
