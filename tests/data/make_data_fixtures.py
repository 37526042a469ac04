#!/usr/bin/env python3
"""Writes the small IDX and CSV fixtures of tests/tools/test_data.c (stdlib only).

Run from anywhere: python3 tests/data/make_data_fixtures.py
The byte layouts are spelled out here so that the tests' expected offsets can
be checked by reading this file.
"""
import gzip
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(name, data, mode="wb"):
    with open(os.path.join(HERE, name), mode) as f:
        f.write(data)


def gz(data):
    # mtime=0 keeps the bytes the same on every run
    return gzip.compress(data, mtime=0)


def idx(type_code, dims, payload):
    return struct.pack(">BBBB", 0, 0, type_code, len(dims)) + struct.pack(">%dI" % len(dims), *dims) + payload


# ---- well-formed IDX --------------------------------------------------------------
images = idx(0x08, [2, 3, 4], bytes((10 * i) % 256 for i in range(24)))  # 0, 10, ..., 230
write("idx_images_2x3x4.idx", images)
write("idx_images_2x3x4.idx.gz", gz(images))
write("idx_labels_5.idx", idx(0x08, [5], bytes([3, 1, 4, 1, 5])))
write("idx_short_2x2.idx", idx(0x0B, [2, 2], struct.pack(">4h", -2, 300, -32768, 7)))
write("idx_float_3.idx", idx(0x0D, [3], struct.pack(">3f", 1.5, -2.25, 1e-3)))

# ---- malformed IDX ------------------------------------------------------------------
write("idx_bad_magic.idx", b"\x12\x34\x08\x03" + bytes(12))
# magic of a 3-d file, then 6 of the 12 bytes of sizes
write("idx_truncated_header.idx", b"\x00\x00\x08\x03" + struct.pack(">I", 60000) + b"\x00\x00")
# header says 60000 images of 28x28; 1024 bytes in all
write("idx_truncated_data.idx", idx(0x08, [60000, 28, 28], bytes(1024 - 16)))
# 5 labels promised, 3 present, inside a valid gzip stream
write("idx_truncated_data.idx.gz", gz(idx(0x08, [5], bytes([1, 2, 3]))))
# 2^20 x 2^20 x 1 = 2^40 elements
absurd = idx(0x08, [1 << 20, 1 << 20, 1], bytes(8))
write("idx_absurd_dims.idx", absurd)
write("idx_absurd_dims.idx.gz", gz(absurd))
# no elements, but sizes whose product overflows a tensor's strides (found by fuzz_idx)
write("idx_zero_dim_huge.idx", idx(0x08, [0, 0xAAB4BEC8, 0xD2DCE6AA], b""))
# 3 labels and 2 bytes nobody asked for
write("idx_extra_bytes.idx", idx(0x08, [3], bytes([0, 1, 2, 7, 7])))
# a gzip stream cut in half
whole = gz(idx(0x08, [64, 64], bytes(range(256)) * 16))
write("idx_cut.idx.gz", whole[: len(whole) // 2])

# ---- CSV ----------------------------------------------------------------------------
write("csv_header.csv", "a,b,c,label\r\n1,2,3,0\r\n\r\n4.5,-5,6e2,1\r\n", "w")
write("csv_no_header.csv", "1,2,3,0\n4,5,6,1\n7,8,9,2\n", "w")
write("csv_string_labels.csv",
      "5.1,3.5,setosa\n7.0,3.2,versicolor\n5.0,3.4,setosa\n6.3,3.3,virginica\n", "w")
# label first, an id column to drop, semicolons, quotes (one with an escaped quote)
write("csv_quoted.csv",
      'id;species;x1;x2\n'
      '17;"Iris ""setosa""";1.5;2\n'
      '18;"virginica";"3.25";  4 \n'
      '19;"Iris ""setosa""";5;6\n', "w")
write("csv_spaces.txt", "  1 2\t3\n4   5 6  \n", "w")
write("csv_bad_cell.csv", "1,2,3\n4,abc,6\n", "w")            # "abc" is at byte 8
write("csv_ragged.csv", "1,2,3\n4,5,6\n7,8\n", "w")            # line 3 starts at byte 12
write("csv_empty_cell.csv", "1,2,3\n4,,6\n", "w")              # the empty cell is at byte 8
write("csv_open_quote.csv", '1,2,3\n4,"5,6\n', "w")            # the quote opens at byte 8
write("csv_header_only.csv", "a,b,c\n", "w")
