"""CKB addresses (RFC 0021) in pure Python, for the integration tests: they build destination
addresses and check what the hub prints without trusting the C code under test. Written from the
BIP-173/BIP-350 definitions and RFC 0021 alone.

Scripts are (code_hash: bytes(32), hash_type: str, args: bytes); hash_type is one of "data",
"type", "data1", "data2".
"""

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
CONST = {"bech32": 1, "bech32m": 0x2BC830A3}
HASH_TYPES = {"data": 0, "type": 1, "data1": 2, "data2": 4}
HASH_TYPE_NAMES = {v: k for k, v in HASH_TYPES.items()}

SIGHASH_CODE_HASH = bytes.fromhex("9bd7e06f3ecf4be0f2fcd2188b23f1b9fcc88e5d4b65a8637b17723bbda3cce8")
MULTISIG_CODE_HASH = bytes.fromhex("5c5069eb0857efc65e1bca0c07df34c31663b3622fd3876c876320fc9634e2a8")
ACP_CODE_HASH = {
    "ckb": bytes.fromhex("d369597ff47f29fbc0d47d2e3775370d1250b85140c670e4718af712983a2354"),
    "ckt": bytes.fromhex("3419a1c09eb2567f6552ee7a8ecffd64155cffe0f1796e6e61ec088d740c1356"),
}
MAX_LEN = 1023


def _polymod(values):
    chk = 1
    for v in values:
        top = chk >> 25
        chk = ((chk & 0x1FFFFFF) << 5) ^ v
        for i, g in enumerate(GENERATOR):
            if (top >> i) & 1:
                chk ^= g
    return chk


def _hrp_expand(hrp):
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _regroup(data, frombits, tobits, pad):
    acc, bits, out, maxv = 0, 0, [], (1 << tobits) - 1
    for v in data:
        acc = (acc << frombits) | v
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            out.append((acc >> bits) & maxv)
    if pad:
        if bits:
            out.append((acc << (tobits - bits)) & maxv)
    elif bits >= frombits or (acc << (tobits - bits)) & maxv:
        raise ValueError("bad padding")
    return out


def bech32_encode(hrp, data, variant):
    words = _regroup(data, 8, 5, True)
    chk = _polymod(_hrp_expand(hrp) + words + [0] * 6) ^ CONST[variant]
    words += [(chk >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(CHARSET[w] for w in words)


def bech32_decode(s):
    """(hrp, data bytes, variant) or ValueError."""
    if s.lower() != s and s.upper() != s:
        raise ValueError("mixed case")
    s = s.lower()
    pos = s.rfind("1")
    if pos < 1 or pos + 7 > len(s):
        raise ValueError("no separator")
    hrp = s[:pos]
    try:
        words = [CHARSET.index(c) for c in s[pos + 1 :]]
    except ValueError:
        raise ValueError("bad character") from None
    chk = _polymod(_hrp_expand(hrp) + words)
    variant = next((k for k, c in CONST.items() if c == chk), None)
    if variant is None:
        raise ValueError("bad checksum")
    return hrp, bytes(_regroup(words[:-6], 5, 8, False)), variant


def encode_full(code_hash, hash_type, args, hrp="ckt"):
    """Current full format: 0x00 ‖ code_hash ‖ hash_type ‖ args, bech32m."""
    assert len(code_hash) == 32
    payload = b"\x00" + bytes(code_hash) + bytes([HASH_TYPES[hash_type]]) + bytes(args)
    return bech32_encode(hrp, payload, "bech32m")


def encode_short(index, args, hrp="ckt"):
    """Deprecated short format: 0x01 ‖ index ‖ args(20), bech32."""
    assert len(args) == 20
    return bech32_encode(hrp, b"\x01" + bytes([index]) + bytes(args), "bech32")


def encode_deprecated_full(code_hash, hash_type, args, hrp="ckt"):
    """Deprecated full format: 0x02 (data) / 0x04 (type) ‖ code_hash ‖ args, bech32."""
    fmt = {"data": 2, "type": 4}[hash_type]
    return bech32_encode(hrp, bytes([fmt]) + bytes(code_hash) + bytes(args), "bech32")


def decode(addr):
    """(hrp, code_hash, hash_type, args) of any RFC 0021 address, or ValueError."""
    if len(addr) > MAX_LEN:
        raise ValueError("too long")
    hrp, p, variant = bech32_decode(addr)
    if hrp not in ("ckb", "ckt"):
        raise ValueError("unknown prefix")
    if not p:
        raise ValueError("empty payload")
    fmt = p[0]
    if fmt == 0x00:
        if variant != "bech32m" or len(p) < 34 or p[33] not in HASH_TYPE_NAMES:
            raise ValueError("bad full address")
        return hrp, p[1:33], HASH_TYPE_NAMES[p[33]], p[34:]
    if fmt == 0x01:
        if variant != "bech32" or len(p) != 22:
            raise ValueError("bad short address")
        code_hash = {0: SIGHASH_CODE_HASH, 1: MULTISIG_CODE_HASH, 2: ACP_CODE_HASH[hrp]}.get(p[1])
        if code_hash is None:
            raise ValueError("unknown short index")
        return hrp, code_hash, "type", p[2:]
    if fmt in (0x02, 0x04):
        if variant != "bech32" or len(p) < 33:
            raise ValueError("bad deprecated full address")
        return hrp, p[1:33], "data" if fmt == 0x02 else "type", p[33:]
    raise ValueError("unknown format")
