#!/usr/bin/env python3
"""Write a reproducible docker-archive image tar (the `docker save` format that
`ctr images import` reads) from a root filesystem directory.

Why: no registry can be reached from the test machine, and there is no Docker
engine. One layer, every entry sorted by path, owner 0:0 unless --chown says
otherwise, modification times fixed to --epoch, the config's `created` fixed
too: the same rootfs gives the same layer digest, image id and archive bytes.

  mkimage.py --rootfs DIR --ref NAME:TAG --out FILE.tar [--user 0:0]
             [--entrypoint JSON] [--cmd JSON] [--env K=V ...] [--label K=V ...]
             [--chown PATH=UID:GID ...] [--epoch N]

Prints the image id (sha256 of the config) on stdout.
"""

import argparse
import hashlib
import io
import json
import os
import stat
import sys
import tarfile


def normalized(info, epoch, owners, rel):
    info.mtime = epoch
    uid, gid = owners.get(rel, (0, 0))
    info.uid, info.gid = uid, gid
    info.uname = info.gname = ""
    info.pax_headers = {}
    return info


def layer_bytes(rootfs, epoch, owners):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        paths = []
        for dirpath, dirnames, filenames in os.walk(rootfs):
            dirnames.sort()
            for name in dirnames + filenames:
                paths.append(os.path.join(dirpath, name))
        for path in sorted(paths, key=lambda p: os.path.relpath(p, rootfs)):
            rel = os.path.relpath(path, rootfs)
            st = os.lstat(path)
            if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
                sys.exit(f"mkimage: {path}: only directories, regular files and symlinks are allowed")
            info = tar.gettarinfo(path, arcname=rel)
            normalized(info, epoch, owners, rel)
            if info.isreg():
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
    return buf.getvalue()


def add_bytes(tar, name, data, epoch):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = epoch
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rootfs", required=True)
    p.add_argument("--ref", required=True, help="repository:tag recorded in the archive")
    p.add_argument("--out", required=True)
    p.add_argument("--user", default="0:0")
    p.add_argument("--entrypoint", default=None, help="JSON list")
    p.add_argument("--cmd", default=None, help="JSON list")
    p.add_argument("--env", action="append", default=[])
    p.add_argument("--label", action="append", default=[])
    p.add_argument("--expose", action="append", default=[])
    p.add_argument("--chown", action="append", default=[], help="PATH=UID:GID (relative to the rootfs)")
    p.add_argument("--epoch", type=int, default=int(os.environ.get("SOURCE_DATE_EPOCH", "0")))
    a = p.parse_args()

    owners = {}
    for spec in a.chown:
        path, _, ids = spec.partition("=")
        uid, _, gid = ids.partition(":")
        owners[path.strip("/")] = (int(uid), int(gid))

    layer = layer_bytes(a.rootfs, a.epoch, owners)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    cfg = {"User": a.user, "Env": a.env or ["PATH=/usr/local/bin:/usr/bin:/bin"], "WorkingDir": "/"}
    if a.entrypoint:
        cfg["Entrypoint"] = json.loads(a.entrypoint)
    if a.cmd:
        cfg["Cmd"] = json.loads(a.cmd)
    if a.label:
        cfg["Labels"] = dict(kv.split("=", 1) for kv in a.label)
    if a.expose:
        cfg["ExposedPorts"] = {port: {} for port in a.expose}
    created = "1970-01-01T00:00:00Z" if a.epoch == 0 else None
    if created is None:
        import datetime

        created = datetime.datetime.fromtimestamp(a.epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created, "created_by": "xtask/kube/mkimage.py (rootfs " + a.ref + ")"}],
    }
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    image_id = hashlib.sha256(config_bytes).hexdigest()
    layer_dir = diff_id.split(":", 1)[1]
    manifest = [{"Config": image_id + ".json", "RepoTags": [a.ref], "Layers": [layer_dir + "/layer.tar"]}]
    manifest_bytes = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()

    tmp = a.out + ".tmp"
    with tarfile.open(tmp, mode="w", format=tarfile.GNU_FORMAT) as tar:
        add_bytes(tar, image_id + ".json", config_bytes, a.epoch)
        add_bytes(tar, layer_dir + "/layer.tar", layer, a.epoch)
        add_bytes(tar, "manifest.json", manifest_bytes, a.epoch)
    os.replace(tmp, a.out)
    print("sha256:" + image_id)


if __name__ == "__main__":
    main()
