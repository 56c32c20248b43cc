"""Guards on what leaves the machine: redaction of sensitive text and the network egress guard.

``redact`` replaces personal data, secrets, classification markings and the administrator's own
terms with stable placeholders before a request leaves; ``egress`` refuses every network
connection the policy did not allow.
"""
