"""openapi.json as strict OpenAPI 3.0 tools read it (openapi-spec-validator, openapi-schema-validator):
the document against the OpenAPI 3.0 schema, then every example against its own schema.

schemathesis reads the document leniently (a repeated operationId, a 3.1 type form or an example
that contradicts its schema pass there), while client generators and response validators such as
openapi-core do not. Usage: python openapi_check.py crates/hub/openapi.json
"""
import json
import sys

from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import OpenAPIV30SpecValidator
from openapi_spec_validator.readers import read_from_filename
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4


def absolute_refs(schema):
    """The schema with its local $refs pointing into the registered document."""
    if isinstance(schema, dict):
        return {k: ("urn:doc" + v if k == "$ref" and isinstance(v, str) and v.startswith("#") else absolute_refs(v)) for k, v in schema.items()}
    if isinstance(schema, list):
        return [absolute_refs(v) for v in schema]
    return schema


def examples(doc):
    """(where, schema, example) for every JSON request and response example."""
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if not isinstance(op, dict):
                continue
            bodies = [("request", op.get("requestBody", {}).get("content", {}).get("application/json"))]
            bodies += [(status, r.get("content", {}).get("application/json")) for status, r in op.get("responses", {}).items()]
            for part, content in bodies:
                if not content:
                    continue
                named = [("example", content["example"])] if "example" in content else []
                named += [(k, e["value"]) for k, e in content.get("examples", {}).items() if "value" in e]
                for name, value in named:
                    yield f"{method} {path} {part} {name}", content.get("schema", {}), value


def main(file):
    doc, _ = read_from_filename(file)
    problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in OpenAPIV30SpecValidator(doc).iter_errors()]
    registry = Registry().with_resource("urn:doc", Resource.from_contents(json.load(open(file)), default_specification=DRAFT4))
    count = 0
    for where, schema, value in examples(doc):
        count += 1
        for e in OAS30Validator(absolute_refs(schema), registry=registry).iter_errors(value):
            problems.append(f"{where} at /{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}")
    for p in problems:
        print("openapi.json:", p)
    print(f"openapi.json: {count} examples checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
