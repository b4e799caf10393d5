"""A local stand-in for the DTS OpenAPI (2020-01-01) that judges requests with the official
Alibaba Cloud Python SDK, not with seqsync's code:

* every request's V3 signature is recomputed with the SDK's own signer
  (alibabacloud_tea_openapi.utils.Utils.get_authorization) over the headers the request says it
  signed; a difference is answered SignatureDoesNotMatch, as the service does;
* every answer is first parsed with the SDK's response models (DescribeDtsJobsResponseBody,
  DescribeDtsJobDetailResponseBody); an answer the SDK could not read is a failed test.

The scenario (keys, STS tokens, jobs per region and tab, throttling, silence) is a JSON file
re-read on every request, so a test can change a job's state between two commands. Each request
is appended to the scenario's log as a JSON line.

A scenario's "hostile" key makes it a misbehaving endpoint instead, answering every request
without judging it: {"redirect": URL} (a 302 there), {"huge": BYTES, "declare_length": BOOL}
(a body that long), {"endless": true} (every page 30 new jobs, TotalRecordCount 10,000,000),
{"invalid_json": true}, {"html_500": true}.

The same server also plays the credential services, judged the same way:
* STS (GET /?Action=AssumeRole…, signature V1 recomputed with the SDK's own
  parameter_helper.compose_string_to_sign and sign_string; AssumeRoleWithOIDC, the token
  compared with the scenario's);
* the ECS metadata service (PUT /latest/api/token, then the role's name and credentials under
  /latest/meta-data/ram/security-credentials/, the IMDSv2 token required when the scenario
  says so);
* a credentials URI (GET /credentials).
Each answer is first parsed by the SDK's own provider (RamRoleArnCredentialsProvider,
OIDCRoleArnCredentialsProvider, EcsRamRoleCredentialsProvider, URLCredentialsProvider) with
its HTTP call replaced by the answer, and STS's answers also by the STS SDK's response models
(alibabacloud_sts20150401: AssumeRoleResponseBody, AssumeRoleWithOIDCResponseBody). Credentials issued expire after the scenario's
"credential_seconds"; DTS then refuses them (InvalidSecurityToken.Expired), as it would.

Usage: fake_dts.py serve SCENARIO PORT_FILE
       fake_dts.py sdk-call HOST:PORT ACCESS_KEY_ID ACCESS_KEY_SECRET REGION   (the SDK as client)
"""

import hashlib
import json
import os
import sys
import threading
import time
import urllib.parse
from unittest import mock
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from alibabacloud_tea_openapi.utils import Utils
from alibabacloud_dts20200101.models import (
    DescribeDtsJobDetailResponseBody,
    DescribeDtsJobsResponseBody,
)

REQUIRED_SIGNED = {"host", "x-acs-action", "x-acs-version", "x-acs-date",
                   "x-acs-signature-nonce", "x-acs-content-sha256"}


class Request:
    """What Utils.get_authorization reads of a request."""

    def __init__(self, method, pathname, query, headers):
        self.method, self.pathname, self.query, self.headers = method, pathname, query, headers


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json;charset=utf-8")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def refuse(self, status, code, message):
        self.answer(status, {"RequestId": "fake", "HostId": "dts.aliyuncs.com",
                             "Code": code, "Message": message})

    def do_GET(self):
        self.credentials_service("GET")

    def do_PUT(self):
        self.credentials_service("PUT")

    def credentials_service(self, method):
        scenario = json.load(open(self.server.scenario_path))
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        headers = {k.lower(): v for k, v in self.headers.items()}
        with open(scenario["log"], "a") as log:
            log.write(json.dumps({"service": url.path, "method": method,
                                  "action": query.get("Action"),
                                  "imds_token": "x-aliyun-ecs-metadata-token" in headers}) + "\n")
        if url.path.startswith("/latest/"):
            return self.metadata(scenario, method, url.path, headers)
        if url.path == "/credentials":
            return self.uri(scenario)
        if query.get("Action") in ("AssumeRole", "AssumeRoleWithOIDC"):
            return self.sts(scenario, query)
        self.refuse(400, "UnsupportedHTTPMethod", "use POST")

    def issue(self, scenario):
        with self.server.lock:
            self.server.serial += 1
            n = self.server.serial
        key_id, secret, token = f"STS.issued{n}", f"issued-secret-{n}", f"issued-token-{n}"
        expires = time.time() + scenario.get("credential_seconds", 3600)
        with self.server.lock:
            self.server.issued[key_id] = (secret, token, expires)
        return {"AccessKeyId": key_id, "AccessKeySecret": secret, "SecurityToken": token,
                "Expiration": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires))}

    def metadata(self, scenario, method, path, headers):
        service = scenario.get("metadata")
        if service is None:
            return self.answer_text(404, "Not Found")
        if service.get("silent"):
            time.sleep(60)
            return
        if "redirect" in service:  # hostile: send the token request elsewhere
            self.send_response(307)
            self.send_header("location", service["redirect"])
            self.send_header("content-length", "0")
            self.end_headers()
            return
        if "huge" in service and path != "/latest/api/token":  # hostile: an endless answer
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("connection", "close")
            self.close_connection = True
            self.end_headers()
            try:
                for _ in range(int(service["huge"]) // 65536):
                    self.wfile.write(b"x" * 65536)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client hung up on a body it would not read: as it should
            return
        if method == "PUT" and path == "/latest/api/token":
            if "x-aliyun-ecs-metadata-token-ttl-seconds" not in headers:
                return self.answer_text(400, "missing ttl")
            token = f"imds-{time.time()}"
            with self.server.lock:
                self.server.imds_tokens.add(token)
            return self.answer_text(200, token)
        if service.get("imdsv2") and headers.get("x-aliyun-ecs-metadata-token") not in self.server.imds_tokens:
            return self.answer_text(401, "Unauthorized")
        prefix = "/latest/meta-data/ram/security-credentials/"
        if path == prefix:
            return self.answer_text(200, service["role"])
        if path != prefix + service["role"]:
            return self.answer_text(404, "Not Found")
        body = dict(self.issue(scenario), Code="Success",
                    LastUpdated=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        from alibabacloud_credentials.provider.ecs_ram_role import EcsRamRoleCredentialsProvider
        judged = sdk_parses("alibabacloud_credentials.provider.ecs_ram_role", body, lambda:
                            EcsRamRoleCredentialsProvider(role_name=service["role"],
                                                          async_update_enabled=False))
        assert judged == body["AccessKeyId"], judged
        self.answer(200, body)

    def uri(self, scenario):
        body = dict(self.issue(scenario), Code="Success")
        from alibabacloud_credentials.provider.uri import URLCredentialsProvider
        judged = sdk_parses("alibabacloud_credentials.provider.uri", body,
                            lambda: URLCredentialsProvider(uri="http://127.0.0.1/credentials"))
        assert judged == body["AccessKeyId"], judged
        self.answer(200, body)

    def sts(self, scenario, query):
        from alibabacloud_credentials.utils import parameter_helper as ph
        service = scenario.get("sts", {})
        action, role = query.get("Action"), query.get("RoleArn", "")
        if action == "AssumeRole":
            key_id = query.get("AccessKeyId", "")
            secret = scenario["keys"].get(key_id)
            issued = self.server.issued.get(key_id)
            if issued:
                secret = issued[0]
                if query.get("SecurityToken") != issued[1]:
                    return self.refuse(400, "InvalidSecurityToken.Mismatch", "The security token is invalid.")
            if secret is None:
                return self.refuse(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
            unsigned = {k: v for k, v in query.items() if k != "Signature"}
            expected = ph.sign_string(ph.compose_string_to_sign("GET", unsigned), secret + "&")
            if expected != query.get("Signature"):
                return self.refuse(400, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation.")
        else:
            if query.get("OIDCToken") != service.get("oidc_token"):
                return self.refuse(400, "AuthenticationFail.OIDCToken.Invalid", "The OIDC token is invalid.")
        if role in service.get("refuse", []):
            return self.refuse(403, "NoPermission", "You are not authorized to do this action. You should be authorized by RAM.")
        credentials = self.issue(scenario)
        body = {"RequestId": "fake", "AssumedRoleUser": {"Arn": role, "AssumedRoleId": "1:s"},
                "Credentials": credentials}
        if action == "AssumeRole":
            from alibabacloud_credentials.provider.ram_role_arn import RamRoleArnCredentialsProvider
            module, make = "alibabacloud_credentials.provider.ram_role_arn", lambda: RamRoleArnCredentialsProvider(
                access_key_id="judge", access_key_secret="judge", role_arn=role, role_session_name="judge")
        else:
            from alibabacloud_credentials.provider.oidc import OIDCRoleArnCredentialsProvider
            token_file = f"/tmp/fake-dts-oidc-{os.getpid()}"
            with open(token_file, "w") as f:
                f.write("judge")
            module, make = "alibabacloud_credentials.provider.oidc", lambda: OIDCRoleArnCredentialsProvider(
                role_arn=role, oidc_provider_arn="judge", oidc_token_file_path=token_file,
                role_session_name="judge")
        judged = sdk_parses(module, body, make)
        assert judged == credentials["AccessKeyId"], judged
        # And the STS SDK's own response models.
        from alibabacloud_sts20150401.models import (AssumeRoleResponseBody,
                                                     AssumeRoleWithOIDCResponseBody)
        model = (AssumeRoleResponseBody if action == "AssumeRole"
                 else AssumeRoleWithOIDCResponseBody)().from_map(body)
        model.validate()
        assert model.credentials.access_key_id == credentials["AccessKeyId"]
        self.answer(200, body)

    def answer_text(self, status, text):
        data = text.encode()
        self.send_response(status)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        scenario = json.load(open(self.server.scenario_path))
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        headers = {k.lower(): v for k, v in self.headers.items()}
        with open(scenario["log"], "a") as log:
            log.write(json.dumps({"action": headers.get("x-acs-action"), "query": query,
                                  "headers": sorted(headers)}) + "\n")
        if scenario.get("silent"):
            time.sleep(60)
            return
        if scenario.get("hostile"):
            try:
                return self.misbehave(scenario["hostile"], query)
            except (BrokenPipeError, ConnectionResetError):
                return  # the client hung up on a body it would not read: as it should
        self.server.calls += 1
        if self.server.calls <= scenario.get("throttle_first", 0):
            return self.refuse(400, "Throttling.User",
                               "Request was denied due to user flow control.")
        problem = self.check_signature(scenario, url.path or "/", query, headers, body)
        if problem:
            with open(scenario["log"], "a") as log:
                log.write(json.dumps({"refused": problem[1]}) + "\n")
            return self.refuse(*problem)
        action = headers.get("x-acs-action")
        if action == "DescribeDtsJobs":
            return self.jobs(scenario, query)
        if action == "DescribeDtsJobDetail":
            return self.detail(scenario, query)
        return self.refuse(404, "InvalidAction.NotFound", f"no action {action}")

    def misbehave(self, hostile, query):
        if "redirect" in hostile:
            self.send_response(302)
            self.send_header("location", hostile["redirect"])
            self.send_header("content-length", "0")
            self.end_headers()
        elif "huge" in hostile:
            size = int(hostile["huge"])
            self.send_response(200)
            self.send_header("content-type", "application/json")
            if hostile.get("declare_length"):
                self.send_header("content-length", str(size))
            self.send_header("connection", "close")
            self.close_connection = True
            self.end_headers()
            self.wfile.write(b'{"DtsJobList": [{"DtsJobId": "big", "DtsJobName": "')
            chunk = b"x" * 65536
            for _ in range(size // len(chunk)):
                self.wfile.write(chunk)
            self.wfile.write(b'"}]}')
        elif hostile.get("endless"):
            page = int(query.get("PageNumber", "1"))
            jobs = [{"DtsJobId": f"dtsj-p{page}-{i}", "DtsJobName": f"page {page} job {i}",
                     "Status": "Synchronizing"} for i in range(30)]
            body = {"RequestId": "fake", "Success": True, "PageNumber": page,
                    "PageRecordCount": 30, "TotalRecordCount": 10_000_000, "DtsJobList": jobs}
            DescribeDtsJobsResponseBody().from_map(body).validate()
            self.answer(200, body)
        elif hostile.get("invalid_json"):
            data = b'{"RequestId": "fake", "DtsJobList": [{"DtsJobId": "dtsj-cut",'
            self.send_response(200)
            self.send_header("content-type", "application/json;charset=utf-8")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        elif hostile.get("html_500"):
            data = ("<!DOCTYPE html>\n<html><head><title>500 Internal Server Error</title></head>\n"
                    "<body>\x1b]0;owned\x07\x1b[2J<h1>Internal Server Error</h1>"
                    + "padding " * 5000 + "</body></html>").encode()
            self.send_response(500)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    def check_signature(self, scenario, path, query, headers, body):
        auth = headers.get("authorization", "")
        algorithm, _, rest = auth.partition(" ")
        fields = dict(p.split("=", 1) for p in rest.split(",") if "=" in p)
        if algorithm != "ACS3-HMAC-SHA256" or not {"Credential", "SignedHeaders", "Signature"} <= set(fields):
            return 400, "IncompleteSignature", "The request signature does not conform to Aliyun standards."
        key_id = fields["Credential"]
        secret = scenario["keys"].get(key_id)
        issued = self.server.issued.get(key_id)
        if issued:
            secret = issued[0]
            if time.time() > issued[2]:
                return 400, "InvalidSecurityToken.Expired", "Specified SecurityToken is expired."
            if headers.get("x-acs-security-token") != issued[1]:
                return 400, "InvalidSecurityToken.Mismatch", "The security token is invalid or missing."
        if secret is None:
            return 404, "InvalidAccessKeyId.NotFound", "Specified access key is not found."
        signed = fields["SignedHeaders"].split(";")
        if not REQUIRED_SIGNED <= set(signed):
            return 400, "IncompleteSignature", f"SignedHeaders must include {sorted(REQUIRED_SIGNED)}"
        if hashlib.sha256(body).hexdigest() != headers.get("x-acs-content-sha256"):
            return 400, "SignatureDoesNotMatch", "x-acs-content-sha256 does not match the body"
        token = scenario.get("tokens", {}).get(key_id)
        if token is not None and (headers.get("x-acs-security-token") != token
                                  or "x-acs-security-token" not in signed):
            return 400, "InvalidSecurityToken.Mismatch", "The security token is invalid or missing."
        request = Request("POST", path, query, {h: headers.get(h) for h in signed})
        expected = Utils.get_authorization(request, "ACS3-HMAC-SHA256",
                                           headers["x-acs-content-sha256"], key_id, secret)
        if expected != auth:
            return 400, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation."
        return None

    def jobs(self, scenario, query):
        region, job_type = query.get("RegionId", ""), query.get("JobType", "MIGRATION")
        jobs = scenario["jobs"].get(region, {}).get(job_type, [])
        page, size = int(query.get("PageNumber", "1")), int(query.get("PageSize", "20"))
        if size not in (10, 20, 30):
            return self.refuse(400, "InvalidParameter", "PageSize must be 10, 20 or 30")
        chunk = jobs[(page - 1) * size: page * size]
        body = {"RequestId": "fake", "HttpStatusCode": 200, "Success": True,
                "PageNumber": page, "PageRecordCount": len(chunk),
                "TotalRecordCount": len(jobs), "DtsJobList": chunk}
        model = DescribeDtsJobsResponseBody().from_map(body)
        model.validate()
        assert [j.dts_job_id for j in model.dts_job_list] == [j["DtsJobId"] for j in chunk]
        self.answer(200, body)

    def detail(self, scenario, query):
        region, job_id = query.get("RegionId", ""), query.get("DtsJobId")
        for jobs in scenario["jobs"].get(region, {}).values():
            for job in jobs:
                if job["DtsJobId"] == job_id:
                    body = dict(job, RequestId="fake", HttpStatusCode=200, Success=True)
                    model = DescribeDtsJobDetailResponseBody().from_map(body)
                    model.validate()
                    assert model.dts_job_id == job_id and model.status == job.get("Status")
                    return self.answer(200, body)
        self.refuse(404, "Forbidden.InstanceNotFound", f"no job {job_id} in {region}")


def sdk_parses(module, body, make):
    """The access key id the SDK's own provider reads from `body`, its HTTP call replaced."""
    answer = mock.Mock(status_code=200, body=json.dumps(body).encode())
    with mock.patch(module + ".TeaCore.do_action", return_value=answer):
        return make()._refresh_credentials().value().get_access_key_id()


def serve(scenario_path, port_file):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.scenario_path, server.calls = scenario_path, 0
    server.lock, server.serial, server.issued, server.imds_tokens = threading.Lock(), 0, {}, set()
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(port_file + ".tmp", port_file)
    server.serve_forever()


def sdk_call(endpoint, key_id, secret, region):
    from alibabacloud_dts20200101.client import Client
    from alibabacloud_dts20200101.models import DescribeDtsJobsRequest
    from alibabacloud_tea_openapi.models import Config
    client = Client(Config(access_key_id=key_id, access_key_secret=secret,
                           endpoint=endpoint, protocol="http", region_id=region))
    try:
        answer = client.describe_dts_jobs(DescribeDtsJobsRequest(region_id=region, job_type="SYNC",
                                                                 page_number=1, page_size=30))
        print(json.dumps([j.dts_job_id for j in answer.body.dts_job_list]))
    except Exception as e:  # the SDK's own error, with the service's code
        print(json.dumps({"code": getattr(e, "code", type(e).__name__)}))


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3])
    else:
        sdk_call(*sys.argv[2:6])
