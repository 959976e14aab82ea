"""SM2 signatures with SM3 (GB/T 32918.2-2016, GB/T 32905-2016), on the `gmssl` package.

What the notices sent upstream are signed with (soc/reporting/envelope.py, docs/upstream.md).

Formats, chosen so that OpenSSL 3 (and every GM/T 0009 implementation) reads what we write:

- A private key is 64 hex digits (the scalar d, 1 <= d <= n-2). A public key is the uncompressed
  point as 128 hex digits ``x || y`` WITHOUT the ``04`` prefix (what `generate_keypair` returns
  and every function here gives back); the 130-digit form with ``04`` is accepted everywhere too.
  A public key must be a point of the SM2 curve (checked: no invalid-curve points).
- A signature is base64 (standard alphabet, padded) of the DER encoding of
  ``SEQUENCE { r INTEGER, s INTEGER }`` (GM/T 0009-2012 SM2Signature, the encoding OpenSSL
  writes and reads). gmssl itself returns ``r || s`` as 128 hex digits; it is converted here, and
  `verify` accepts only strict DER (minimal lengths and integers, nothing after the sequence).
- The digest signed is ``e = SM3(ZA || M)`` with
  ``ZA = SM3(ENTLA || IDA || a || b || xG || yG || xA || yA)`` (GB/T 32918.2-2016 5.5, 6.1),
  ENTLA the bit length of the distinguishing identifier IDA on two bytes. IDA defaults to
  DEFAULT_UID, ``1234567812345678`` (GM/T 0009-2012 10; OpenSSL's default too). gmssl's own
  `sign_with_sm3` hard-codes that id and is not used: ZA is computed here for any uid.
- Key files are PEM, as OpenSSL writes them for SM2: the private key PKCS#8 ``PRIVATE KEY``
  (id-ecPublicKey with the SM2 curve OID 1.2.156.10197.1.301, an ECPrivateKey holding the public
  point too), written with mode 0600; the public key SubjectPublicKeyInfo ``PUBLIC KEY``. SEC1
  files (``EC PRIVATE KEY``, or ``SM2 PRIVATE KEY`` as `openssl ec` labels them for SM2) are
  read as well; encrypted ones are refused with a message.

Where gmssl falls short, and what is done about it:

- its random numbers (`gmssl.func.random_hex`) come from `random`, not a CSPRNG, and may exceed
  n: the per-signature k and private keys are drawn here with `secrets` in [1, n-1] / [1, n-2];
- `CryptSM2.__init__` mangles a public key starting with ``04`` (``str.lstrip("04")``): the
  point is set on the object after construction, already without its prefix;
- its `verify` does not check r and s are in [1, n-1] nor the public key is on the curve: done
  here before calling it; any exception in it is a failed verification;
- its SM3 is pure Python (about 4 s per MiB): `sm3_digest` uses OpenSSL's SM3 through `hashlib`
  when the linked OpenSSL has it (Debian's OpenSSL 3 does), gmssl's otherwise; the tests check
  both against the GB/T 32905 vectors and against each other.
- it is pure Python and not constant-time: a local attacker able to time signatures precisely
  could learn about the key. Signing runs on the reporting side only, a few times per incident.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from gmssl import func as _gm_func
from gmssl import sm2 as _gm_sm2
from gmssl import sm3 as _gm_sm3

DEFAULT_UID = b"1234567812345678"  # GB/T 32918 / GM/T 0009-2012 10: the default distinguishing id

# The recommended curve (GB/T 32918.5-2017), in gmssl's table form (hex, no 0x).
CURVE: dict[str, str] = dict(_gm_sm2.default_ecc_table)
_P = int(CURVE["p"], 16)
_A = int(CURVE["a"], 16)
_B = int(CURVE["b"], 16)
_N = int(CURVE["n"], 16)

# DER object identifiers: id-ecPublicKey (1.2.840.10045.2.1) and the SM2 curve (1.2.156.10197.1.301).
_OID_EC_PUBLIC_KEY = bytes.fromhex("2a8648ce3d0201")
_OID_SM2 = bytes.fromhex("2a811ccf5501822d")
_HASHLIB_SM3 = "sm3" in hashlib.algorithms_available


class SMKeyError(ValueError):
    """A key that cannot be used (bad hex, not on the curve, a key file of another kind...)."""


class KeyPairFiles(NamedTuple):
    private: Path
    public: Path


# ---------------------------------------------------------------- SM3

def sm3_gmssl(data: bytes) -> bytes:
    """SM3 as gmssl computes it (pure Python)."""
    return bytes.fromhex(_gm_sm3.sm3_hash(_gm_func.bytes_to_list(data)))


def sm3_digest(data: bytes) -> bytes:
    """SM3 (GB/T 32905-2016) of data: OpenSSL's through hashlib when available, else gmssl's."""
    if _HASHLIB_SM3:
        return hashlib.new("sm3", data).digest()
    return sm3_gmssl(data)


def sm3_hex(data: bytes) -> str:
    return sm3_digest(data).hex()


# ---------------------------------------------------------------- keys

def _curve_ints(curve: dict[str, str]) -> tuple[int, int, int, int]:
    return int(curve["p"], 16), int(curve["a"], 16), int(curve["b"], 16), int(curve["n"], 16)


def _width(curve: dict[str, str]) -> int:
    return len(curve["n"])  # hex digits of one coordinate (64)


def normalize_public(public_hex: str, curve: dict[str, str] = CURVE) -> str:
    """The public key as 128 lower-case hex digits x||y (no 04), checked to be on the curve."""
    if not isinstance(public_hex, str):
        raise SMKeyError("a public key is a hex string")
    text = public_hex.strip().lower()
    w = _width(curve)
    if len(text) == 2 * w + 2 and text.startswith("04"):
        text = text[2:]
    if len(text) != 2 * w or any(c not in "0123456789abcdef" for c in text):
        raise SMKeyError(f"a public key is {2 * w} hex digits x||y (or {2 * w + 2} with the 04 prefix)")
    p, a, b, _ = _curve_ints(curve)
    x, y = int(text[:w], 16), int(text[w:], 16)
    if not (0 <= x < p and 0 <= y < p) or (y * y - (x * x * x + a * x + b)) % p != 0:
        raise SMKeyError("the public key is not a point of the SM2 curve")
    return text


def _private_int(private_hex: str, curve: dict[str, str] = CURVE) -> int:
    if not isinstance(private_hex, str):
        raise SMKeyError("a private key is a hex string")
    text = private_hex.strip().lower()
    if not 1 <= len(text) <= _width(curve) or any(c not in "0123456789abcdef" for c in text):
        raise SMKeyError(f"a private key is at most {_width(curve)} hex digits")
    d = int(text, 16)
    if not 1 <= d <= _curve_ints(curve)[3] - 2:
        raise SMKeyError("the private key is out of range [1, n-2]")
    return d


def _crypt(private_hex: str, public_hex: str, curve: dict[str, str] = CURVE) -> _gm_sm2.CryptSM2:
    c = _gm_sm2.CryptSM2(private_key=private_hex, public_key="", ecc_table=curve)
    c.public_key = public_hex  # set afterwards: the constructor's lstrip("04") mangles some keys
    return c


@lru_cache(maxsize=32)
def _derive_public(d: int, curve_items: tuple[tuple[str, str], ...]) -> str:
    curve = dict(curve_items)
    w = _width(curve)
    point = _crypt(f"{d:0{w}x}", "", curve)._kg(d, curve["g"])
    if point is None:
        raise SMKeyError("the private key gives no public point")
    return point


def public_from_private(private_hex: str, curve: dict[str, str] = CURVE) -> str:
    """The public key (128 hex, no 04) of a private key: [d]G."""
    return _derive_public(_private_int(private_hex, curve), tuple(sorted(curve.items())))


def generate_keypair() -> tuple[str, str]:
    """A new key pair: (private 64 hex digits, public 128 hex digits x||y without 04)."""
    d = secrets.randbelow(_N - 2) + 1  # [1, n-2]
    private_hex = f"{d:064x}"
    return private_hex, public_from_private(private_hex)


def key_fingerprint(public_hex: str) -> str:
    """SM3 of the uncompressed point (04||x||y), hex: to compare keys by eye (first 16 digits)."""
    return sm3_hex(bytes.fromhex("04" + normalize_public(public_hex)))


# ---------------------------------------------------------------- ZA and the digest

def z_value(public_hex: str, uid: bytes = DEFAULT_UID, curve: dict[str, str] = CURVE) -> bytes:
    """ZA = SM3(ENTLA || IDA || a || b || xG || yG || xA || yA) (GB/T 32918.2-2016 5.5)."""
    if not isinstance(uid, bytes | bytearray) or len(uid) * 8 > 0xFFFF:
        raise ValueError("the distinguishing id is bytes, at most 8191 of them")
    pub = normalize_public(public_hex, curve)
    w = _width(curve)
    data = (
        (len(uid) * 8).to_bytes(2, "big") + bytes(uid)
        + bytes.fromhex(curve["a"].rjust(w, "0")) + bytes.fromhex(curve["b"].rjust(w, "0"))
        + bytes.fromhex(curve["g"]) + bytes.fromhex(pub)
    )
    return sm3_digest(data)


def message_digest(public_hex: str, message: bytes, uid: bytes = DEFAULT_UID,
                   curve: dict[str, str] = CURVE) -> bytes:
    """e = SM3(ZA || M), the value SM2 signs (GB/T 32918.2-2016 6.1 A1-A2)."""
    return sm3_digest(z_value(public_hex, uid, curve) + bytes(message))


# ---------------------------------------------------------------- DER (r, s)

def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der(tag: int, value: bytes) -> bytes:
    return bytes([tag]) + _der_len(len(value)) + value


def _der_int(v: int) -> bytes:
    body = v.to_bytes(v.bit_length() // 8 + 1, "big")  # one leading zero when the top bit is set
    return _der(0x02, body)


def encode_signature(r: int, s: int) -> bytes:
    """DER SEQUENCE { r INTEGER, s INTEGER }."""
    return _der(0x30, _der_int(r) + _der_int(s))


def _read_tlv(data: bytes, pos: int) -> tuple[int, bytes, int]:
    """(tag, value, position after it) of the DER element at pos; strict definite lengths."""
    if pos + 2 > len(data):
        raise ValueError("truncated")
    tag, first = data[pos], data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise ValueError("bad length")
        length = int.from_bytes(data[pos:pos + count], "big")
        if length < 0x80 or data[pos] == 0:
            raise ValueError("non-minimal length")
        pos += count
    if pos + length > len(data):
        raise ValueError("truncated")
    return tag, data[pos:pos + length], pos + length


def _parse_der_int(value: bytes) -> int:
    if not value or value[0] & 0x80 or (len(value) > 1 and value[0] == 0 and not value[1] & 0x80):
        raise ValueError("not a minimal non-negative INTEGER")
    return int.from_bytes(value, "big")


def decode_signature(der: bytes) -> tuple[int, int]:
    """(r, s) from strict DER; ValueError on anything else."""
    tag, seq, end = _read_tlv(der, 0)
    if tag != 0x30 or end != len(der):
        raise ValueError("not one SEQUENCE")
    t1, v1, pos = _read_tlv(seq, 0)
    t2, v2, pos = _read_tlv(seq, pos)
    if t1 != 0x02 or t2 != 0x02 or pos != len(seq):
        raise ValueError("not SEQUENCE { INTEGER, INTEGER }")
    return _parse_der_int(v1), _parse_der_int(v2)


# ---------------------------------------------------------------- sign and verify

def _sign_digest(private_hex: str, public_hex: str, e: bytes, k: int | None,
                 curve: dict[str, str] = CURVE) -> tuple[int, int]:
    """(r, s) over the digest e, with gmssl; k is drawn with `secrets` unless given (tests)."""
    n = _curve_ints(curve)[3]
    w = _width(curve)
    c = _crypt(f"{_private_int(private_hex, curve):0{w}x}", public_hex, curve)
    for _ in range(64):
        kk = k if k is not None else secrets.randbelow(n - 1) + 1  # [1, n-1]
        raw = c.sign(e, f"{kk:0{w}x}")
        if raw:  # None when r = 0, r + k = n or s = 0: draw another k
            return int(raw[:w], 16), int(raw[w:2 * w], 16)
        if k is not None:
            raise ValueError("this k gives no signature")
    raise RuntimeError("no signature after 64 draws of k")  # pragma: no cover (probability ~0)


def sign(private_hex: str, public_hex: str, message: bytes, uid: bytes = DEFAULT_UID) -> str:
    """Base64 of the DER (r, s) SM2 signature of SM3(ZA || message).

    public_hex must be the private key's own (checked: a mismatch would give signatures nobody
    can verify, since ZA is computed from it); ValueError otherwise.
    """
    if not isinstance(message, bytes | bytearray):
        raise TypeError("the message is bytes")
    pub = normalize_public(public_hex)
    if public_from_private(private_hex) != pub:
        raise SMKeyError("the public key is not the private key's")
    r, s = _sign_digest(private_hex, pub, message_digest(pub, bytes(message), uid), None)
    return base64.b64encode(encode_signature(r, s)).decode("ascii")


def _verify_digest(public_hex: str, e: bytes, r: int, s: int, curve: dict[str, str] = CURVE) -> bool:
    n = _curve_ints(curve)[3]
    if not (1 <= r <= n - 1 and 1 <= s <= n - 1) or (r + s) % n == 0:
        return False
    w = _width(curve)
    c = _crypt("1", public_hex, curve)
    return bool(c.verify(f"{r:0{w}x}{s:0{w}x}", e))


def verify(public_hex: str, message: bytes, signature_b64: str, uid: bytes = DEFAULT_UID) -> bool:
    """True when signature_b64 is a valid SM2 signature of message by public_hex; False on any
    malformed input (bad key, bad base64, non-DER signature, r or s out of range) — never raises."""
    try:
        if not isinstance(message, bytes | bytearray) or not isinstance(signature_b64, str | bytes):
            return False
        raw = signature_b64.encode("ascii") if isinstance(signature_b64, str) else signature_b64
        if len(raw) > 200:
            return False
        der = base64.b64decode(raw, validate=True)
        if base64.b64encode(der) != raw.strip():
            return False  # non-canonical base64 (stray padding bits): one signature, one spelling
        r, s = decode_signature(der)
        pub = normalize_public(public_hex)
        return _verify_digest(pub, message_digest(pub, bytes(message), uid), r, s)
    except Exception:  # noqa: BLE001 - the contract is "False on anything malformed"
        return False


# ---------------------------------------------------------------- PEM files

def _pem(label: str, der: bytes) -> str:
    b64 = base64.encodebytes(der).decode("ascii").replace("\n", "")
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


def _unpem(text: str) -> tuple[str, bytes]:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if len(lines) < 3 or not lines[0].startswith("-----BEGIN ") or not lines[-1].startswith("-----END "):
        raise SMKeyError("not a PEM file")
    label = lines[0][len("-----BEGIN "):].rstrip("-").strip()
    if lines[-1][len("-----END "):].rstrip("-").strip() != label:
        raise SMKeyError("PEM BEGIN and END lines differ")
    body = [ln for ln in lines[1:-1] if ":" not in ln]  # skip RFC 1421 headers (Proc-Type...)
    try:
        return label, base64.b64decode("".join(body), validate=True)
    except (binascii.Error, ValueError):
        raise SMKeyError("the PEM body is not base64") from None


def private_pem(private_hex: str) -> str:
    """PKCS#8 PEM of an SM2 private key, with its public point (as `openssl genpkey` writes)."""
    d = _private_int(private_hex)
    pub = public_from_private(private_hex)
    ec_private = _der(0x30, _der(0x02, b"\x01") + _der(0x04, d.to_bytes(32, "big"))
                      + _der(0xA1, _der(0x03, b"\x00\x04" + bytes.fromhex(pub))))
    algo = _der(0x30, _der(0x06, _OID_EC_PUBLIC_KEY) + _der(0x06, _OID_SM2))
    return _pem("PRIVATE KEY", _der(0x30, _der(0x02, b"\x00") + algo + _der(0x04, ec_private)))


def public_pem(public_hex: str) -> str:
    """SubjectPublicKeyInfo PEM of an SM2 public key (as `openssl pkey -pubout` writes)."""
    pub = normalize_public(public_hex)
    algo = _der(0x30, _der(0x06, _OID_EC_PUBLIC_KEY) + _der(0x06, _OID_SM2))
    return _pem("PUBLIC KEY", _der(0x30, algo + _der(0x03, b"\x00\x04" + bytes.fromhex(pub))))


def _children(value: bytes) -> list[tuple[int, bytes]]:
    out, pos = [], 0
    while pos < len(value):
        tag, v, pos = _read_tlv(value, pos)
        out.append((tag, v))
    return out


def _check_algorithm(algo: bytes) -> None:
    oids = [v for t, v in _children(algo) if t == 0x06]
    if not oids or oids[0] not in (_OID_EC_PUBLIC_KEY, _OID_SM2) or (oids[0] == _OID_EC_PUBLIC_KEY
                                                                      and oids[1:2] != [_OID_SM2]):
        raise SMKeyError("not an SM2 key (the algorithm is not id-ecPublicKey on the SM2 curve)")


def _point_from_bitstring(value: bytes) -> str:
    if len(value) != 66 or value[0] != 0 or value[1] != 0x04:
        raise SMKeyError("the public point is not an uncompressed SM2 point")
    return normalize_public(value[2:].hex())


def _parse_ec_private(der: bytes, sec1: bool) -> tuple[str, str | None]:
    tag, seq, _ = _read_tlv(der, 0)
    parts = _children(seq) if tag == 0x30 else []
    if len(parts) < 2 or parts[0] != (0x02, b"\x01") or parts[1][0] != 0x04:
        raise SMKeyError("not an EC private key")
    private_hex = parts[1][1].hex().rjust(64, "0")
    _private_int(private_hex)
    public = None
    for t, v in parts[2:]:
        if t == 0xA0 and sec1:
            ptag, pval, _ = _read_tlv(v, 0)
            if ptag != 0x06 or pval != _OID_SM2:
                raise SMKeyError("not an SM2 key (the curve is not SM2)")
        if t == 0xA1:
            btag, bval, _ = _read_tlv(v, 0)
            if btag == 0x03:
                public = _point_from_bitstring(bval)
    return private_hex, public


def _read_private_pem(text: str) -> tuple[str, str]:
    try:
        label, der = _unpem(text)
        if label == "ENCRYPTED PRIVATE KEY":
            raise SMKeyError("the key file is encrypted; decrypt it first (openssl pkey -in F -out G)")
        if label in ("EC PRIVATE KEY", "SM2 PRIVATE KEY"):  # SEC1 (OpenSSL 3 `ec` labels SM2 keys so)
            private_hex, public = _parse_ec_private(der, sec1=True)
        elif label == "PRIVATE KEY":
            tag, seq, _ = _read_tlv(der, 0)
            parts = _children(seq) if tag == 0x30 else []
            if len(parts) < 3 or parts[0] != (0x02, b"\x00") or parts[1][0] != 0x30 or parts[2][0] != 0x04:
                raise SMKeyError("not a PKCS#8 private key")
            _check_algorithm(parts[1][1])
            private_hex, public = _parse_ec_private(parts[2][1], sec1=False)
        else:
            raise SMKeyError(f"a PEM {label!r}, not a private key")
    except SMKeyError:
        raise
    except ValueError as exc:
        raise SMKeyError(f"not a readable key: {exc}") from None
    derived = public_from_private(private_hex)
    if public is not None and public != derived:
        raise SMKeyError("the key file's public point is not its private key's")
    return private_hex, derived


def parse_public(text: str) -> str:
    """A public key given as hex (128 or 130 digits) or as PEM text (PUBLIC KEY, or a private
    key file, whose public point is taken): 128 hex digits x||y."""
    text = text.strip()
    if not text.startswith("-----BEGIN"):
        return normalize_public(text)
    try:
        label, der = _unpem(text)
        if label != "PUBLIC KEY":
            return _read_private_pem(text)[1]
        tag, seq, _ = _read_tlv(der, 0)
        parts = _children(seq) if tag == 0x30 else []
        if len(parts) != 2 or parts[0][0] != 0x30 or parts[1][0] != 0x03:
            raise SMKeyError("not a SubjectPublicKeyInfo")
        _check_algorithm(parts[0][1])
        return _point_from_bitstring(parts[1][1])
    except SMKeyError:
        raise
    except ValueError as exc:
        raise SMKeyError(f"not a readable public key: {exc}") from None


def load_private(path: str | os.PathLike[str]) -> str:
    """The private key (64 hex) of a PEM file (PKCS#8 or SEC1, unencrypted)."""
    return _read_private_pem(Path(path).read_text(encoding="ascii"))[0]


def load_public(path: str | os.PathLike[str]) -> str:
    """The public key (128 hex, no 04) of a PEM file: a PUBLIC KEY file, or a private key file
    (its public point), or a file holding the hex."""
    return parse_public(Path(path).read_text(encoding="ascii"))


def save_keypair(dir: str | os.PathLike[str], name: str, private_hex: str | None = None,
                 public_hex: str | None = None, overwrite: bool = False) -> KeyPairFiles:
    """Write ``<dir>/<name>.key.pem`` (PKCS#8, mode 0600) and ``<dir>/<name>.pub.pem``: a new
    pair, or the one given. Existing files are never replaced unless overwrite."""
    if not name or "/" in name or name.startswith("."):
        raise ValueError("a key name is a plain file name")
    if private_hex is None:
        private_hex, public_hex = generate_keypair()
    derived = public_from_private(private_hex)
    if public_hex is not None and normalize_public(public_hex) != derived:
        raise SMKeyError("the public key is not the private key's")
    folder = Path(dir)
    folder.mkdir(parents=True, exist_ok=True)
    key_path, pub_path = folder / f"{name}.key.pem", folder / f"{name}.pub.pem"
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    fd = os.open(key_path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, private_pem(private_hex).encode("ascii"))
    finally:
        os.close(fd)
    fd = os.open(pub_path, flags, 0o644)
    try:
        os.write(fd, public_pem(derived).encode("ascii"))
    finally:
        os.close(fd)
    return KeyPairFiles(key_path, pub_path)
