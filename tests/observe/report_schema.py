# SPDX-License-Identifier: LGPL-2.1-or-later
"""Report documents against docs/report.schema.json, for the test tools.

tests/collector.py --schema and tests/observe/check-schema.py use it: one
place says how a report is checked and how a failure is worded ("PATH:
what is wrong", PATH as $.state.failures, $.quarantined[0].component).
Needs python3-jsonschema (Debian 12: 4.10, draft 2020-12 supported).
"""
import json

import jsonschema


def load(path):
    """The validator of the schema file at path (the schema itself checked)."""
    with open(path, encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def json_path(parts):
    out = "$"
    for p in parts:
        out += "[%d]" % p if isinstance(p, int) else "." + str(p)
    return out


def _leaves(err):
    # an if/then or allOf failure says more in its sub-errors
    if err.context:
        for sub in err.context:
            yield from _leaves(sub)
    else:
        yield err


def problems(validator, doc):
    """Every way doc breaks the schema, as sorted "PATH: message" lines
    (empty: valid)."""
    out = set()
    for err in validator.iter_errors(doc):
        for leaf in _leaves(err):
            msg = leaf.message
            if leaf.validator == "not" and leaf.validator_value == {}:
                # {"not": {}, "description": why}: a field that must not be here
                why = leaf.schema.get("description") if isinstance(leaf.schema, dict) else None
                msg = "not allowed here" + (": " + why if why else "")
            if len(msg) > 200:
                msg = msg[:200] + "..."
            out.add("%s: %s" % (json_path(leaf.absolute_path), msg))
    return sorted(out)


def check_bytes(validator, body):
    """problems() of a body as received: not JSON is a problem too."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        return ["$: not JSON: %s" % e]
    return problems(validator, doc)
