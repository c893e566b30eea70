"""The asymmetric keys that sign access tokens, and the public JWKS built from them."""

from __future__ import annotations

import json
import os
from pathlib import Path

from joserfc.jwk import ECKey, KeySet, RSAKey

_KEY_TYPES = {"ES256": ECKey, "RS256": RSAKey}


class SigningKeys:
    """The current signing key plus retired public keys still accepted for verification."""

    def __init__(self, algorithm: str, private: ECKey | RSAKey, previous: list) -> None:
        self.algorithm = algorithm
        self.private = private
        self.signing_set = KeySet([private])
        self.verification_set = KeySet([private, *previous])

    @classmethod
    def from_config(cls, config: dict, instance_path: str) -> SigningKeys:
        algorithm = config["JWT_ALGORITHM"]
        if algorithm not in _KEY_TYPES:
            raise ValueError(f"JWT_ALGORITHM must be one of {sorted(_KEY_TYPES)}")
        key_type = _KEY_TYPES[algorithm]
        pem = config.get("JWT_PRIVATE_KEY")
        if not pem and config.get("JWT_PRIVATE_KEY_FILE"):
            pem = Path(config["JWT_PRIVATE_KEY_FILE"]).read_text()
        if not pem:
            pem = _instance_key(Path(instance_path) / f"jwt-{algorithm.lower()}.pem", key_type)
        private = key_type.import_key(pem, parameters={"alg": algorithm, "use": "sig"})
        private.ensure_kid()
        previous = []
        if config.get("JWT_PREVIOUS_PUBLIC_KEYS_FILE"):
            data = KeySet.import_key_set(
                json.loads(Path(config["JWT_PREVIOUS_PUBLIC_KEYS_FILE"]).read_text())
            )
            previous = list(data.keys)
        return cls(algorithm, private, previous)

    def jwks(self) -> dict:
        """The public keys, as published at /.well-known/jwks.json."""
        keys = []
        for key in self.verification_set.keys:
            public = key.as_dict(private=False)
            public.setdefault("kid", key.kid)
            public.setdefault("use", "sig")
            public.setdefault("alg", key.alg or self.algorithm)
            keys.append(public)
        return {"keys": keys}


def _instance_key(path: Path, key_type) -> str:
    """Read, or generate once, a signing key in the instance folder (demo and dev only)."""
    if not path.exists():
        key = key_type.generate_key("P-256" if key_type is ECKey else 2048)
        pem = key.as_pem(private=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text()
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
    return path.read_text()
