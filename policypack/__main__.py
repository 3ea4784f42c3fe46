"""`pulumi preview --policy-pack policypack`: the order pipeline's guardrails, enforced on any stack."""

import sys
from pathlib import Path

from pulumi_policy import EnforcementLevel, PolicyPack

# The pack runs from its own folder; its modules are imported as the package the tests import.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from policypack.policies import PACK_NAME, POLICIES

PolicyPack(name=PACK_NAME, enforcement_level=EnforcementLevel.MANDATORY, policies=POLICIES)
