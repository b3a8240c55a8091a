"""Where the UI tests find the binaries and put their artifacts (screenshots, pages).

RAFTKV_BUILD: the build dir (default: build/ of the checkout); binaries are in bin/ and
test-bin/. RAFTKV_UI_ARTIFACTS: where screenshots go (default: <build>/ui-artifacts).
"""

import os

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build_dir():
    return os.environ.get("RAFTKV_BUILD", os.path.join(REPO_ROOT, "build"))


def binary(name, test_bin=False):
    return os.path.join(build_dir(), "test-bin" if test_bin else "bin", name)


def artifact(name):
    d = os.environ.get("RAFTKV_UI_ARTIFACTS", os.path.join(build_dir(), "ui-artifacts"))
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, name)
