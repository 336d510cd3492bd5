#!/usr/bin/env bash
# Regenerate the fuzz seed corpus from the example frames of shared/docs/protocol.md §4.
#
#   fuzz/gen-seeds.sh          writes fuzz/seeds/*.bin (committed: raw frame bytes, one
#                              example per file; the `decode` target's seeds)
#   fuzz/gen-seeds.sh --all    also seeds fuzz/corpus/decrypt, fuzz/corpus/unescape and
#                              fuzz/corpus/link (gitignored working corpora of the others)
#
# Frames are written below in the document notation: <LF>, <CR>, <XX> = one raw byte.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
seeds="$here/seeds"

# Document notation -> printf %b escapes (the frames contain no backslashes).
to_printf() {
    sed -e 's/<LF>/\\n/g' -e 's/<CR>/\\r/g' -e 's/<\([0-9A-F][0-9A-F]\)>/\\x\1/g'
}

# name <TAB> frame text (several frames on one line = one file holding a byte stream).
# 01-16 are §4.1-§4.4 frames as printed. §4.4 abridges its binary-CRC (M10) and Eldes (M8)
# rows, so 17 is frame 8 with its CRC DC53 written as the 2 raw bytes, and 18 is M8's data
# with its CRC-with-CR BCD3 (52A3 without the CR), length as is and counting the CR.
frames() {
    cat <<'EOF'
01-hb-null	<LF>93B30031"NULL"0000R1234L6789#000000[]_17:24:14,12-09-2015<CR>
02-hb-arm-away	<LF>02130047"HENG-BO"0000R1234L6789#000000[#000000|3400 00 000]_17:15:29,12-09-2015<CR>
03-adm-cid-no-timestamp	<LF>87CD0037"ADM-CID"9876R579BDFL789ABC#12345A[#12345A|1110 00 129]<CR>
04-sia-dcs	<LF>DC530046"SIA-DCS"9876R579BDFL789ABC#12345A[#12345A|NFA129]_13:14:15,02-15-2006<CR>
05-sia-xdata-mac	<LF>8C860043"SIA-DCS"9876R579BDFL789ABC#123456A[#123456A|NFA129][M1234567890AB]<CR>
06-adm-cid-xdata-room	<LF>2DE1004C"ADM-CID"0056L0#123456[#123456|1406 01 000][RLivingRoom]_17:22:02,09-18-2023<CR>
07-hb-disarm-binary-xdata	<LF>A95B005B"HENG-BO"0003R123ABCL456DEF#861234567890[#000123|1400 00 000][<00><06>123456]_08:31:00,06-01-2024<CR>
08-hb-signal-binary-and-hex4	<LF>F14F0056"HENG-BO"0005R123ABCL456DEF#861234567890[#000123|1799 00 000][<00><01>']_08:33:00,06-01-2024<CR><LF>A7C40059"HENG-BO"0005R123ABCL456DEF#861234567890[#000123|1799 00 000][000227]_08:33:00,06-01-2024<CR>
09-hb-passthrough	<LF>0613005A"HENG-BO"0012R123ABCL456DEF#861234567890[#000123|1704 00 000][<00><05><EB><AB>?<A0>u]_08:40:00,06-01-2024<CR>
10-encrypted-sia-dcs	<LF>D9760084"*SIA-DCS"9876R579BDFL789ABC#12345A[209c9d400b655df7a26aecb6a887e7ee6ed8103217079aae7cbd9dd7551e96823263460f7ef0514864897ae9789534f1<CR>
11-duh-and-spec-nak	<LF>BF000020"DUH"0009R579BDFL789ABC#12345A[]<CR><LF>DED30025"NAK"0000R0L0A0[]_12:00:05,06-01-2024<CR>
12-garbage-then-two-nulls	xyz<LF>12CE0026"NULL"0000L0#CCC[]_02:48:01,03-10-2026<CR><LF>ECFA0012"NULL"0000L0#CCC[]<CR>
13-quirk-missing-l	<LF>D2860025"NULL"0001#1997[]_17:07:08,05-23-2024<CR>
14-quirk-no-account	<LF>9F0D001A"SIA-DCS"0001L[#9999|NBA2]<CR>
15-quirk-decimal-length	<LF>57150047"ADM-CID"0247R4F39L4F39#4F39[#4F39|3401 01 057]<CR>
16-unknown-id-nonhex-account	<LF>6C82003E"FOO-BAR"0013R123ABCL456DEF#861234567890[]_08:42:00,06-01-2024<CR><LF>7A28002F"ADM-CID"6616R0L0#foc7688[#foc7688|1351 01 000]<CR>
17-quirk-binary-crc	<LF><DC><53>0046"SIA-DCS"9876R579BDFL789ABC#12345A[#12345A|NFA129]_13:14:15,02-15-2006<CR>
18-quirk-crc-with-cr	<LF>BCD30027"ADM-CID"1533L0#4F39[#4F39|1412 00 000]<CR><LF>BCD30028"ADM-CID"1533L0#4F39[#4F39|1412 00 000]<CR>
EOF
}

mkdir -p "$seeds"
while IFS=$'\t' read -r name text; do
    printf '%b' "$(printf '%s' "$text" | to_printf)" >"$seeds/$name.bin"
done < <(frames)
echo "wrote $(frames | wc -l) seeds to $seeds"

if [[ "${1:-}" == "--all" ]]; then
    # unescape: the frames as document-notation text.
    u="$here/corpus/unescape"
    mkdir -p "$u"
    while IFS=$'\t' read -r name text; do
        printf '%s' "$text" >"$u/$name.txt"
    done < <(frames)
    printf '%s' '\nA\r\x41\\ <0D><LF>' >"$u/backslash.txt"

    # decrypt: selector byte (key length % 3, mode / 3 % 2, ID / 6 % 5), key bytes, rest.
    d="$here/corpus/decrypt"
    mkdir -p "$d"
    # protocol.md §4.3 #26: *SIA-DCS, key hex 0123456789ABCDEF0123456789ABCDEF (selector 0).
    printf '%b%s' '\x00\x01\x23\x45\x67\x89\xAB\xCD\xEF\x01\x23\x45\x67\x89\xAB\xCD\xEF' \
        '209c9d400b655df7a26aecb6a887e7ee6ed8103217079aae7cbd9dd7551e96823263460f7ef0514864897ae9789534f1' \
        >"$d/26-sia-dcs.bin"
    # #28: *ADM-CID, key hex 000102…0F (selector 6: AES-128, ciphertext mode, ADM-CID).
    printf '%b%s' '\x06\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0A\x0B\x0C\x0D\x0E\x0F' \
        '2F8D4528FCF14D3E25815AA2AC5770C2A5DCE428A04131B9F81D42740A176793C9F2A0D35D4B99B55499BFFBCA4048CF' \
        >"$d/28-adm-cid.bin"
    # #27: *NULL, ASCII key AAAAAAAAAAAAAAAA (selector 12: AES-128, ciphertext mode, NULL).
    printf '%b%s' '\x0C' 'AAAAAAAAAAAAAAAAB4BC8B40D0E6D959D6BEA78E88CC0B2155741A3C44FBB96D476A3E557CAD64D9' \
        >"$d/27-null.bin"
    # Plaintext mode: key, 16 pad bytes, body. Selector 3: AES-128 SIA-DCS; 0x1D: AES-256
    # ACK; 0x0A: AES-192 ADM-CID.
    printf '%b%s' '\x03' 'kkkkkkkkkkkkkkkkppppppppppppppp|#12345A|NFA129][M1234567890AB]_13:14:15,02-15-2006' \
        >"$d/plain-sia-xdata.bin"
    printf '%b%s' '\x1D' 'KKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKK0000000000000000]_10:20:31,06-01-2024' \
        >"$d/plain-ack-aes256.bin"
    printf '%b' '\x0Ak24k24k24k24k24k24k24k24ABCDEFGHIJKLMNOP|#1111|1130 01 015][\x00\x02hi]_10:20:30,06-01-2024' \
        >"$d/plain-adm-cid-aes192.bin"
    # link: each committed seed as a connection's input, in 64-byte reads with a timer tick
    # after each (ops: 0x00-0x3F = feed len+1 bytes, 0xD0 = tick; see fuzz_targets/link.rs),
    # under three setups: byte 0 = 0x14 (key 000102…, all quirks), 0x3C (key 0123…, all
    # quirks, wide window), 0x41 (flag unknown accounts, ask Hengbo hosts their type); byte
    # 1 = 0xFF (16 frames/s, burst 16).
    k="$here/corpus/link"
    mkdir -p "$k"
    chunks="$(mktemp -d)"
    trap 'rm -rf "$chunks"' EXIT
    for f in "$seeds"/*.bin; do
        rm -f "$chunks"/*
        split -b 64 "$f" "$chunks/c."
        for setup in 14 3C 41; do
            out="$k/$(basename "$f" .bin)-$setup.bin"
            printf '%b' "\\x$setup\\xFF" >"$out"
            for c in "$chunks"/c.*; do
                n=$(stat -c %s "$c")
                printf '%b' "\\x$(printf %02X $((n - 1)))" >>"$out"
                cat "$c" >>"$out"
                printf '%b' '\xD0' >>"$out"
            done
        done
    done
    echo "seeded $u, $d and $k"
fi
