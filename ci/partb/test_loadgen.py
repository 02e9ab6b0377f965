"""Unit tests of reading wrk's result line and of the report checker's
PNG test."""

import os
import struct
import tempfile
import unittest
import zlib

import check
import loadgen

OUTPUT = """Running 1s test @ http://127.0.0.1:1/
  1 threads and 4 connections
PARTB-WRK {"requests":9198,"duration_us":1100000,"bytes":993384,"errors":{"connect":0,\
"read":2,"write":0,"status":1,"timeout":0},"latency_us":{"mean":468.5,"p50":234,"p90":1194,\
"p99":3827,"p999":6363,"max":7063}}
"""


class Wrk(unittest.TestCase):
    def test_parse(self):
        r = loadgen.parse(OUTPUT)
        self.assertEqual(r["requests"], 9198)
        self.assertAlmostEqual(r["rps"], 9198 / 1.1)
        self.assertEqual(r["errors"], 3)
        self.assertAlmostEqual(r["latency_ms"]["p50"], 0.234)
        self.assertAlmostEqual(r["latency_ms"]["p99"], 3.827)

    def test_parse_without_the_line(self):
        with self.assertRaises(ValueError):
            loadgen.parse("wrk: connection refused\n")

    def test_argv_has_at_least_one_connection(self):
        argv = loadgen.argv("wrk", "s.lua", "http://x:1/", 0, 3, 5)
        self.assertIn("-c1", argv)
        self.assertIn("-t1", argv)
        self.assertEqual(argv[-1], "http://x:1/")

    def test_script_prints_the_mark(self):
        self.assertIn(loadgen.MARK + "{", loadgen.SCRIPT)


def chunk(name, body):
    return struct.pack(">I", len(body)) + name + body + struct.pack(">I", zlib.crc32(name + body))


def tiny_png():
    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


class Png(unittest.TestCase):
    def check_bytes(self, data):
        with tempfile.NamedTemporaryFile(suffix=".png", delete=False) as f:
            f.write(data)
        try:
            return check.png_problem(f.name)
        finally:
            os.unlink(f.name)

    def test_whole_png(self):
        self.assertIsNone(self.check_bytes(tiny_png()))

    def test_truncated_png(self):
        self.assertIsNotNone(self.check_bytes(tiny_png()[:-6]))

    def test_not_a_png(self):
        self.assertEqual(self.check_bytes(b"GIF89a"), "not a PNG")

    def test_corrupt_chunk(self):
        data = bytearray(tiny_png())
        data[30] ^= 0xFF
        self.assertIn("CRC", self.check_bytes(bytes(data)))


if __name__ == "__main__":
    unittest.main()
