"""Static files under content-hashed names, precompressed, served by WhiteNoise with long cache lifetimes.

A phone on a bad network should download the shell once and then never ask for it again: every file gets a
copy named after its content (`js/api.3f2a9c1b0d4e.js`) that may be cached for a year, because a new
version is a new name. `url_for("static", ...)` hands out those names, and `/sw.js` is rewritten to
precache them. ES modules import each other by relative URL (`./api.js`), so a module's hashed copy has
its imports rewritten to the hashed names of what it imports, and its own hash covers those names: a change
in `api.js` renames every module that imports it, all the way up. (An import map would do the same at run
time, but needs an inline script, which the Content-Security-Policy forbids, and adds bytes to every page.)
The original names stay served too (for the web manifest's icons and old pages), with revalidation.

The build runs in `create_app`, so every shape (tests, `bin/serve`, production) serves the same way with no
step to forget. It is written to a directory named after the whole build and renamed into place in one
step, so gunicorn workers starting together never see half a build.
"""

import hashlib
import os
import posixpath
import re
import shutil
import tempfile
import time

from flask import Flask
from whitenoise import WhiteNoise
from whitenoise.compress import Compressor

from .. import security

HASH_LENGTH = 12
# `from "./a.js"`, `import "./a.js"`, `import("./a.js")`: relative specifiers only.
MODULE_SPECIFIER = re.compile(r"""(\bfrom\s*|\bimport\s*\(?\s*)(["'])(\.{1,2}/[^"']+)\2""")
HASHED_NAME = re.compile(rf"\.[0-9a-f]{{{HASH_LENGTH}}}\.\w+$")
# Served from the root by core.views with its URLs rewritten, never from /static/.
NOT_BUILT = {"sw.js"}
OLD_BUILD_SECONDS = 24 * 3600


def init_app(app: Flask) -> None:
    """Build the hashed copies, hand out their names from url_for, and serve them with WhiteNoise."""
    root, manifest = build(app.static_folder, os.path.join(app.instance_path, "static-build"))
    app.extensions["attune_assets"] = manifest

    @app.url_defaults
    def _hashed_static_names(endpoint, values):
        if endpoint == "static" and values.get("filename") in manifest:
            values["filename"] = manifest[values["filename"]]

    app.wsgi_app = WhiteNoise(
        app.wsgi_app,
        root=root,
        prefix=app.static_url_path,
        allow_all_origins=False,  # nothing here is for other sites
        max_age=0,  # original names: revalidate every time (ETag / Last-Modified)
        immutable_file_test=lambda path, url: bool(HASHED_NAME.search(url)),
        add_headers_function=_security_headers(app),
    )


def _security_headers(app: Flask):
    """WhiteNoise answers before Flask, so security's after_request never sees these responses: take
    the headers it gives a static file once, by running it on one, and add them to every answer."""
    with app.test_request_context(app.static_url_path + "/probe"):
        blank = app.response_class()
        before = dict(blank.headers)
        given = {
            k: v for k, v in security.apply_headers(blank).headers.items() if before.get(k) != v
        }
    given["Cross-Origin-Resource-Policy"] = "same-origin"

    def add(headers, path, url):
        for name, value in given.items():
            headers[name] = value

    return add


def hashed_url(app: Flask, path: str) -> str:
    """`/static/js/a.js` -> its hashed URL (unknown paths are returned unchanged)."""
    prefix = app.static_url_path + "/"
    if not path.startswith(prefix):
        return path
    name = app.extensions["attune_assets"].get(path.removeprefix(prefix))
    return prefix + name if name else path


def build(static_folder: str, builds_dir: str) -> tuple[str, dict[str, str]]:
    """(directory to serve, {original name: hashed name}); reuses an identical earlier build."""
    sources = _read_sources(static_folder)
    manifest, contents = _hash_all(sources)
    build_id = hashlib.sha256(repr(sorted(manifest.items())).encode()).hexdigest()[:HASH_LENGTH]
    target = os.path.join(builds_dir, build_id)
    if os.path.isdir(target):
        os.utime(target)  # in use: not pruned (below) by a process running other code
        return target, manifest
    os.makedirs(builds_dir, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix=".building-", dir=builds_dir)
    try:
        compressor = Compressor(quiet=True)
        for name, data in [*sources.items(), *contents.items()]:
            path = os.path.join(scratch, *name.split("/"))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as fh:
                fh.write(data)
            if compressor.should_compress(path):
                compressor.compress(path)
        try:
            os.rename(scratch, target)
        except OSError:
            if not os.path.isdir(target):  # not a worker that finished the same build first
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    _prune(builds_dir, keep=target)
    return target, manifest


def _prune(builds_dir: str, keep: str) -> None:
    """Delete builds unused for a day: older code's workers, still serving them, are long gone by then."""
    cutoff = time.time() - OLD_BUILD_SECONDS
    for entry in os.scandir(builds_dir):
        if entry.path != keep and entry.is_dir() and entry.stat().st_mtime < cutoff:
            shutil.rmtree(entry.path, ignore_errors=True)


def _read_sources(static_folder: str) -> dict[str, bytes]:
    sources = {}
    for dirpath, _dirs, files in os.walk(static_folder):
        for filename in files:
            path = os.path.join(dirpath, filename)
            name = os.path.relpath(path, static_folder).replace(os.sep, "/")
            if name not in NOT_BUILT:
                with open(path, "rb") as fh:
                    sources[name] = fh.read()
    return sources


def _hash_all(sources: dict[str, bytes]) -> tuple[dict[str, str], dict[str, bytes]]:
    """Hash every file, each JS module after the modules it imports (their names are in its bytes)."""
    manifest: dict[str, str] = {}
    contents: dict[str, bytes] = {}
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in manifest:
            return
        if name in visiting:
            raise ValueError(f"static/{name}: import cycle, cannot hash module names")
        visiting.add(name)
        data = sources[name]
        if name.endswith(".js"):
            data = MODULE_SPECIFIER.sub(lambda m: rewrite(name, m), data.decode())
            data = data.encode()
        digest = hashlib.sha256(data).hexdigest()[:HASH_LENGTH]
        stem, ext = posixpath.splitext(name)
        manifest[name] = f"{stem}.{digest}{ext}"
        contents[manifest[name]] = data
        visiting.discard(name)

    def rewrite(importer: str, match: re.Match) -> str:
        target = posixpath.normpath(posixpath.join(posixpath.dirname(importer), match.group(3)))
        if target not in sources:
            return match.group(0)
        visit(target)
        relative = posixpath.relpath(manifest[target], posixpath.dirname(importer) or ".")
        relative = relative if relative.startswith("../") else "./" + relative
        return f"{match.group(1)}{match.group(2)}{relative}{match.group(2)}"

    for name in sorted(sources):
        visit(name)
    return manifest, contents
