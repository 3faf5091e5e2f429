"""Self-check of the tests' own address helper (ckbaddr.py) against RFC 0021 vectors, so a test
that decodes the hub's output with it is checking against the standard, not against itself."""

import pytest

import ckbaddr

SIGHASH = ckbaddr.SIGHASH_CODE_HASH
ARGS = bytes.fromhex("b39bbc0b3673c7d36450bc14cfcdad2d559c6c64")
FULL_TYPE = (
    "ckb1qzda0cr08m85hc8jlnfp3zer7xulejywt49kt2rr0vthywaa50xwsqdnnw7qkdnnclfkg59uzn8umtfd2kwxceqxwquc4"
)
SHORT_0 = "ckb1qyqt8xaupvm8837nv3gtc9x0ekkj64vud3jqfwyw5v"
DEPRECATED_TYPE = (
    "ckb1qjda0cr08m85hc8jlnfp3zer7xulejywt49kt2rr0vthywaa50xw3vumhs9nvu786dj9p0q5elx66t24n3kxgj53qks"
)


def test_vectors_decode_and_encode():
    assert ckbaddr.decode(FULL_TYPE) == ("ckb", SIGHASH, "type", ARGS)
    assert ckbaddr.encode_full(SIGHASH, "type", ARGS, "ckb") == FULL_TYPE
    assert ckbaddr.decode(SHORT_0) == ("ckb", SIGHASH, "type", ARGS)
    assert ckbaddr.encode_short(0, ARGS, "ckb") == SHORT_0
    assert ckbaddr.decode(DEPRECATED_TYPE) == ("ckb", SIGHASH, "type", ARGS)
    assert ckbaddr.encode_deprecated_full(SIGHASH, "type", ARGS, "ckb") == DEPRECATED_TYPE


@pytest.mark.parametrize(
    "bad",
    [
        # a short payload encoded with bech32m; 0x00 encoded with bech32; one character changed
        "ckb1qyqylv479ewscx3ms620sv34pgeuz6zagaaqh0knz7",
        "ckb1qzda0cr08m85hc8jlnfp3zer7xulejywt49kt2rr0vthywaa50xwsq20k2lzuhgvrgacv4tmr88",
        FULL_TYPE[:-1] + "5",
    ],
)
def test_rejects(bad):
    with pytest.raises(ValueError):
        ckbaddr.decode(bad)
