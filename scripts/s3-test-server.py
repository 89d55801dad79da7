#!/usr/bin/env python3
"""A real S3-compatible server for framex's remote-tier tests: moto's server (`pip install
"moto[server]"`, which `.ci/run` installs), on 127.0.0.1, with signature checking on.

Started by the tests themselves (one per test that needs one). It prints one JSON line,
{"endpoint", "accessKeyId", "secretAccessKey", "region"}, then serves until its stdin closes
(so a test that dies takes its server with it). Lines on stdin: `bucket NAME` creates a bucket
and answers `ok`.

With `--auth`, credentials are enforced: moto checks every request's SigV4 signature against an
IAM user this script creates (the three requests that create it are the only unauthenticated
ones). Without it, any credentials are accepted (moto's default). The tests use `--auth` for the
wrong-credentials case only: moto 5.2's signature check also refuses valid signatures of listing
requests whose prefix holds a '/' (boto3's own `list_objects_v2` fails the same way).
"""
import json
import os
import socket
import sys

AUTH = "--auth" in sys.argv[1:]
if AUTH:
    # Must be set before moto is imported: the IAM calls below are the only unauthenticated ones.
    os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"
os.environ.setdefault("MOTO_ALLOW_NONEXISTENT_REGION", "true")

import boto3  # noqa: E402  (moto depends on it)
from moto.server import ThreadedMotoServer  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    ports = [a for a in sys.argv[1:] if a.isdigit()]
    port = int(ports[0]) if ports else free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    region = "us-east-1"
    plain = dict(endpoint_url=endpoint, region_name=region)
    iam = boto3.client("iam", aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap", **plain)
    iam.create_user(UserName="framex")
    key = iam.create_access_key(UserName="framex")["AccessKey"]
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    iam.put_user_policy(UserName="framex", PolicyName="all", PolicyDocument=json.dumps(policy))
    s3 = boto3.client("s3", aws_access_key_id=key["AccessKeyId"],
                      aws_secret_access_key=key["SecretAccessKey"], **plain)
    print(json.dumps({"endpoint": endpoint, "accessKeyId": key["AccessKeyId"],
                      "secretAccessKey": key["SecretAccessKey"], "region": region}), flush=True)
    for line in sys.stdin:
        words = line.split()
        if len(words) == 2 and words[0] == "bucket":
            s3.create_bucket(Bucket=words[1])
            print("ok", flush=True)
    server.stop()


if __name__ == "__main__":
    main()
