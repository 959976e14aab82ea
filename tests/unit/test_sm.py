"""SM3 and SM2 (soc/reporting/sm.py): standard vectors, round trips, tampering, and OpenSSL 3 interop.

Vectors:
- SM3: GB/T 32905-2016 Appendix A ("abc", and "abcd" x 16).
- SM2 on the recommended curve: GB/T 32918.5 / GM/T 0003.5-2012 Annex A (private key, k, r, s
  for "message digest" with the default id), as carried by OpenSSL's test/sm2_internal_test.c.
- SM2 on the GB/T 32918.2 / GM/T 0003.2 Annex A test curve with IDA = ALICE123@YAHOO.COM (the
  same values, in draft-shen-sm2-ecdsa-02 and OpenSSL's test file): checks ZA with an id of
  another length than the default.
The OpenSSL tests run the `openssl` command (Debian's OpenSSL 3 has SM2 and SM3); they are skipped
only when no `openssl` is on PATH.
"""

from __future__ import annotations

import base64
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from soc.reporting import sm

SM3_ABC = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
SM3_ABCD16 = "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"

# GB/T 32918.5 / GM/T 0003.5-2012 Annex A (recommended curve).
GM_D = "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8"
GM_PUB = ("09f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020"
          "ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13")
GM_K = 0x59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21
GM_R = 0xF5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3
GM_S = 0xB1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA

# GB/T 32918.2 / GM/T 0003.2-2012 Annex A: the 256-bit test curve over Fp.
TEST_CURVE = {
    "p": "8542D69E4C044F18E8B92435BF6FF7DE457283915C45517D722EDB8B08F1DFC3",
    "a": "787968B4FA32C3FD2417842E73BBFEFF2F3C848B6831D7E0EC65228B3937E498",
    "b": "63E4C6D3B23B0C849CF84241484BFE48F61D59A5B16BA06E6E12D1DA27C5249A",
    "g": "421DEBD61B62EAB6746434EBC3CC315E32220B3BADD50BDC4C4E6C147FEDD43D"
         "0680512BCBB42C07D47349D2153B70C4E5D7FDFCBFA36EA1A85841B9E46E09A2",
    "n": "8542D69E4C044F18E8B92435BF6FF7DD297720630485628D5AE74EE7C32E79B7",
}
TC_D = "128B2FA8BD433C6C068C8D803DFF79792A519A55171B1B650C23661D15897263"
TC_PUB = ("0ae4c7798aa0f119471bee11825be46202bb79e2a5844495e97c04ff4df2548a"
          "7c0240f88f1cd4e16352a73c17b7f16f07353e53a176d684a9fe0c6bb798e857")
TC_K = 0x6CB28D99385C175C94F94E934817663FC176D925DD72B727260DBAAE1FB2F96F
TC_R = 0x40F1EC59F793D9F49E09DCEF49130D4194F79FB1EED2CAA55BACDB49C4E755D1
TC_S = 0x6FC6DAC32C5D5CF10C77DFB20F7C2EB667A457872FB09EC56327A67EC7DEEBE7

# A key whose public x starts with 04: gmssl's CryptSM2 constructor strips it (lstrip("04")).
D_04 = "9c7201c5b539df68daf5c3c5f91054615765d7bde8edb84a9d8cc0e5983e95a2"

N = int(sm.CURVE["n"], 16)
OPENSSL = shutil.which("openssl")


@pytest.fixture
def openssl_cli() -> str:
    """Interoperability with OpenSSL is what a receiver relies on: no openssl command FAILS
    (scripts/bootstrap.sh installs it), never skips."""
    if OPENSSL is None:
        pytest.fail("no openssl command on PATH (apt-get install openssl)", pytrace=False)
    return OPENSSL


needs_openssl = pytest.mark.usefixtures("openssl_cli")


@pytest.fixture(scope="module")
def pair() -> tuple[str, str]:
    return sm.generate_keypair()


# ---------------------------------------------------------------- SM3

@pytest.mark.parametrize("impl", [sm.sm3_gmssl, sm.sm3_digest], ids=["gmssl", "used"])
def test_sm3_vectors(impl) -> None:
    assert impl(b"abc").hex() == SM3_ABC
    assert impl(b"abcd" * 16).hex() == SM3_ABCD16


def test_sm3_implementations_agree() -> None:
    for size in (0, 1, 55, 56, 63, 64, 65, 1000, 4097):
        data = os.urandom(size)
        assert sm.sm3_digest(data) == sm.sm3_gmssl(data), size


# ---------------------------------------------------------------- the published SM2 examples

def test_gbt32918_recommended_curve_example() -> None:
    assert sm.public_from_private(GM_D) == GM_PUB
    e = sm.message_digest(GM_PUB, b"message digest")
    assert sm._sign_digest(GM_D, GM_PUB, e, GM_K) == (GM_R, GM_S)
    sig = base64.b64encode(sm.encode_signature(GM_R, GM_S)).decode()
    assert sm.verify(GM_PUB, b"message digest", sig)
    assert sm.verify("04" + GM_PUB, b"message digest", sig)
    assert not sm.verify(GM_PUB, b"message digesT", sig)


def test_gbt32918_test_curve_example_with_its_id() -> None:
    uid = b"ALICE123@YAHOO.COM"
    assert sm.public_from_private(TC_D, TEST_CURVE) == TC_PUB
    e = sm.message_digest(TC_PUB, b"message digest", uid, TEST_CURVE)
    assert sm._sign_digest(TC_D, TC_PUB, e, TC_K, TEST_CURVE) == (TC_R, TC_S)
    assert sm._verify_digest(TC_PUB, e, TC_R, TC_S, TEST_CURVE)
    e_default = sm.message_digest(TC_PUB, b"message digest", sm.DEFAULT_UID, TEST_CURVE)
    assert not sm._verify_digest(TC_PUB, e_default, TC_R, TC_S, TEST_CURVE)


# ---------------------------------------------------------------- round trips and tampering

def test_keypair_format(pair: tuple[str, str]) -> None:
    private, public = pair
    assert len(private) == 64 and len(public) == 128
    assert int(private, 16) and sm.public_from_private(private) == public
    assert sm.normalize_public("04" + public.upper()) == public


def test_round_trip(pair: tuple[str, str]) -> None:
    private, public = pair
    for message in (b"", b"abc", "网络安全事件通报".encode(), os.urandom(5000)):
        sig = sm.sign(private, public, message)
        assert sm.verify(public, message, sig)
        r, s = sm.decode_signature(base64.b64decode(sig))
        assert 1 <= r < N and 1 <= s < N
    assert sm.sign(private, public, b"x") != sm.sign(private, public, b"x")  # a fresh k each time


def test_flipped_bit_in_message_fails(pair: tuple[str, str]) -> None:
    private, public = pair
    message = b'{"notice_id": "N-1", "grade": "\xe8\xbe\x83\xe5\xa4\xa7"}'
    sig = sm.sign(private, public, message)
    for i in (0, len(message) // 2, len(message) - 1):
        for bit in (0, 7):
            tampered = bytearray(message)
            tampered[i] ^= 1 << bit
            assert not sm.verify(public, bytes(tampered), sig)


def test_flipped_bit_in_signature_fails(pair: tuple[str, str]) -> None:
    private, public = pair
    sig = base64.b64decode(sm.sign(private, public, b"abc"))
    for i in range(len(sig)):
        tampered = bytearray(sig)
        tampered[i] ^= 0x01
        assert not sm.verify(public, b"abc", base64.b64encode(bytes(tampered)).decode()), i


def test_wrong_key_and_wrong_uid_fail(pair: tuple[str, str]) -> None:
    private, public = pair
    _, other = sm.generate_keypair()
    sig = sm.sign(private, public, b"abc")
    assert not sm.verify(other, b"abc", sig)
    assert not sm.verify(public, b"abc", sig, uid=b"ALICE123@YAHOO.COM")
    assert sm.verify(public, b"abc", sm.sign(private, public, b"abc", uid=b"ALICE123@YAHOO.COM"),
                     uid=b"ALICE123@YAHOO.COM")


def test_sign_refuses_a_public_key_of_another_pair(pair: tuple[str, str]) -> None:
    _, other = sm.generate_keypair()
    with pytest.raises(ValueError):
        sm.sign(pair[0], other, b"abc")


def test_key_starting_with_04_is_not_mangled() -> None:
    public = sm.public_from_private(D_04)
    assert public.startswith("04")
    sig = sm.sign(D_04, public, b"abc")
    assert sm.verify(public, b"abc", sig)
    assert sm.verify("04" + public, b"abc", sig)


def test_malformed_inputs_are_false_never_raise(pair: tuple[str, str]) -> None:
    private, public = pair
    good = sm.sign(private, public, b"abc")
    der = base64.b64decode(good)
    r, s = sm.decode_signature(der)
    off_curve = public[:-1] + ("0" if public[-1] != "0" else "1")
    b64 = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
    bad_signatures = [
        "", "!!!!", "A" * 1000, good[:-4], good + "AAAA", " " + good, good + "\n",
        b64(der + b"\x00"),  # trailing byte
        b64(der[:-1]),  # truncated
        b64(sm.encode_signature(0, s)), b64(sm.encode_signature(r, 0)),
        b64(sm.encode_signature(N, s)), b64(sm.encode_signature(r, N + s)),
        b64(sm.encode_signature(r, N - r)),  # r + s = n
        b64(b"\x31" + der[1:]),  # a SET, not a SEQUENCE
        b64(_padded(r, s)),  # r with a superfluous leading zero (BER, not DER)
        b64(r.to_bytes(32, "big") + s.to_bytes(32, "big")),  # raw r||s (what gmssl gives), not DER
        (r.to_bytes(32, "big") + s.to_bytes(32, "big")).hex(),
        None, 42,
    ]
    for bad in bad_signatures:
        assert sm.verify(public, b"abc", bad) is False, bad  # type: ignore[arg-type]
    for bad_key in ("", "zz", public[:-2], off_curve, "04" * 65, "00" * 64, None, 7):
        assert sm.verify(bad_key, b"abc", good) is False, bad_key  # type: ignore[arg-type]
    assert sm.verify(public, "abc", good) is False  # type: ignore[arg-type]
    assert sm.verify(public, b"abc", good, uid="1234567812345678") is False  # type: ignore[arg-type]


def _padded(r: int, s: int) -> bytes:
    inner = sm._der_int(r)
    inner = bytes([0x02, inner[1] + 1, 0x00]) + inner[2:] + sm._der_int(s)
    return bytes([0x30, len(inner)]) + inner


def test_der_is_canonical() -> None:
    assert sm.encode_signature(1, 0x80) == bytes.fromhex("3007020101020200 80".replace(" ", ""))
    for r, s in ((1, 1), (GM_R, GM_S), (N - 1, 0x7F)):
        assert sm.decode_signature(sm.encode_signature(r, s)) == (r, s)
    with pytest.raises(ValueError):
        sm.decode_signature(bytes.fromhex("300702020001020101"))  # 00 01: non-minimal INTEGER


# ---------------------------------------------------------------- key files

def test_key_files_round_trip(tmp_path: Path) -> None:
    files = sm.save_keypair(tmp_path, "city")
    assert files.private == tmp_path / "city.key.pem" and files.public == tmp_path / "city.pub.pem"
    assert stat.S_IMODE(files.private.stat().st_mode) == 0o600
    private = sm.load_private(files.private)
    public = sm.load_public(files.public)
    assert sm.public_from_private(private) == public
    assert sm.load_public(files.private) == public  # the private file gives its public key too
    assert files.private.read_text().startswith("-----BEGIN PRIVATE KEY-----\n")
    with pytest.raises(FileExistsError):
        sm.save_keypair(tmp_path, "city")
    sm.save_keypair(tmp_path, "given", GM_D, GM_PUB)
    assert sm.load_private(tmp_path / "given.key.pem") == GM_D.lower()


def test_key_files_refuse_other_things(tmp_path: Path) -> None:
    files = sm.save_keypair(tmp_path, "k")
    with pytest.raises(ValueError):
        sm.load_private(files.public)
    (tmp_path / "junk.pem").write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ValueError):
        sm.load_private(tmp_path / "junk.pem")


# ---------------------------------------------------------------- OpenSSL 3 interoperability

def _openssl(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([OPENSSL, *args], input=input, capture_output=True, timeout=60)  # type: ignore[list-item]


def _openssl_ok(*args: str) -> bytes:
    res = _openssl(*args)
    assert res.returncode == 0, f"openssl {' '.join(args)}: {res.stderr.decode(errors='replace')}"
    return res.stdout


@needs_openssl
def test_openssl_reads_our_key_files(tmp_path: Path) -> None:
    files = sm.save_keypair(tmp_path, "ours", GM_D, GM_PUB)
    text = _openssl_ok("pkey", "-in", str(files.private), "-noout", "-text").decode()
    assert "SM2" in text
    priv = "".join(line.strip() for line in text.split("priv:")[1].split("pub:")[0].split()).replace(":", "")
    assert int(priv, 16) == int(GM_D, 16)
    spki = _openssl_ok("pkey", "-pubin", "-in", str(files.public), "-outform", "DER")
    assert spki.endswith(bytes.fromhex("04" + GM_PUB))
    derived = _openssl_ok("pkey", "-in", str(files.private), "-pubout")
    assert derived.decode() == files.public.read_text()


@needs_openssl
def test_we_read_openssl_key_files(tmp_path: Path) -> None:
    key = tmp_path / "openssl.key.pem"
    _openssl_ok("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:SM2", "-out", str(key))
    _openssl_ok("pkey", "-in", str(key), "-pubout", "-out", str(tmp_path / "openssl.pub.pem"))
    _openssl_ok("ec", "-in", str(key), "-out", str(tmp_path / "sec1.pem"))  # EC PRIVATE KEY form
    private = sm.load_private(key)
    public = sm.load_public(tmp_path / "openssl.pub.pem")
    assert sm.public_from_private(private) == public
    assert sm.load_private(tmp_path / "sec1.pem") == private
    # OpenSSL 3 labels an SM2 key in SEC1 form "SM2 PRIVATE KEY" (older ones "EC PRIVATE KEY")
    assert (tmp_path / "sec1.pem").read_text().split("\n")[0] in ("-----BEGIN SM2 PRIVATE KEY-----",
                                                                   "-----BEGIN EC PRIVATE KEY-----")


@needs_openssl
@pytest.mark.parametrize("uid", [sm.DEFAULT_UID, b"city-soc@example.gov.cn"])
def test_our_signature_verifies_with_openssl(tmp_path: Path, uid: bytes) -> None:
    files = sm.save_keypair(tmp_path, "ours")
    private, public = sm.load_private(files.private), sm.load_public(files.public)
    message = "网络安全事件通报 / incident notice\n".encode() * 3
    (tmp_path / "msg").write_bytes(message)
    (tmp_path / "sig").write_bytes(base64.b64decode(sm.sign(private, public, message, uid=uid)))
    verify = ["pkeyutl", "-verify", "-rawin", "-digest", "sm3", "-pubin", "-inkey", str(files.public),
              "-in", str(tmp_path / "msg"), "-sigfile", str(tmp_path / "sig"), "-pkeyopt", f"distid:{uid.decode()}"]
    res = _openssl(*verify)
    assert res.returncode == 0 and b"Signature Verified Successfully" in res.stdout, res.stderr.decode()
    (tmp_path / "msg").write_bytes(message + b"!")
    assert _openssl(*verify).returncode != 0  # and openssl refuses it for another message


@needs_openssl
@pytest.mark.parametrize("uid", [sm.DEFAULT_UID, b"city-soc@example.gov.cn"])
def test_openssl_signature_verifies_with_ours(tmp_path: Path, uid: bytes) -> None:
    key = tmp_path / "k.pem"
    _openssl_ok("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:SM2", "-out", str(key))
    message = os.urandom(300)
    (tmp_path / "msg").write_bytes(message)
    _openssl_ok("pkeyutl", "-sign", "-rawin", "-digest", "sm3", "-inkey", str(key), "-in", str(tmp_path / "msg"),
                "-out", str(tmp_path / "sig"), "-pkeyopt", f"distid:{uid.decode()}")
    sig = base64.b64encode((tmp_path / "sig").read_bytes()).decode()
    public = sm.load_public(key)
    assert sm.verify(public, message, sig, uid=uid)
    assert not sm.verify(public, message + b"x", sig, uid=uid)
    assert not sm.verify(public, message, sig, uid=b"another id")


@needs_openssl
def test_key_starting_with_04_interoperates(tmp_path: Path) -> None:
    public = sm.public_from_private(D_04)
    files = sm.save_keypair(tmp_path, "k04", D_04, public)
    (tmp_path / "msg").write_bytes(b"abc")
    (tmp_path / "sig").write_bytes(base64.b64decode(sm.sign(D_04, public, b"abc")))
    res = _openssl("pkeyutl", "-verify", "-rawin", "-digest", "sm3", "-pubin", "-inkey", str(files.public),
                   "-in", str(tmp_path / "msg"), "-sigfile", str(tmp_path / "sig"),
                   "-pkeyopt", "distid:1234567812345678")
    assert res.returncode == 0, res.stderr.decode()


@needs_openssl
def test_openssl_sm3_agrees() -> None:
    data = os.urandom(777)
    out = _openssl("dgst", "-sm3", "-hex", input=data)
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout.decode().strip().split("= ")[-1] == sm.sm3_hex(data)
