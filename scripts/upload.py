#!/usr/bin/env python3
"""Upload random data or a file to a Glance endpoint and prove Glance stored it.

Prints progress while it sends, then the throughput and whether the size, md5
and sha512 Glance reports (and, with --download, the bytes it returns) match
what was sent. Exits non-zero on any mismatch.

  scripts/upload.py --endpoint http://127.0.0.1:29292 --size-mib 256
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "plugins", "module_utils"))

from glance_api import GlanceClient, GlanceError, file_blocks, random_blocks  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--endpoint", default="http://127.0.0.1:29292")
    parser.add_argument("--size-mib", type=int, default=256, help="random data to send (MiB)")
    parser.add_argument("--file", help="send this file instead of random data")
    parser.add_argument("--transfer", choices=["chunked", "content_length"], default="chunked")
    parser.add_argument("--chunk-size", type=int, default=65536)
    parser.add_argument("--expect-continue", action="store_true")
    parser.add_argument("--download", action="store_true", help="also download and compare")
    parser.add_argument("--keep", action="store_true", help="keep the image afterwards")
    args = parser.parse_args()

    size = os.path.getsize(args.file) if args.file else args.size_mib * 1024 * 1024
    blocks = file_blocks(args.file) if args.file else random_blocks(size)
    client = GlanceClient(args.endpoint, timeout=600)
    print("Endpoint:  %s" % args.endpoint)
    try:
        image = client.create_image("httpd-wsgi-glance-upload-check")
        print("Image:     %s" % image["id"])
        print("Upload:    %d MiB, %s, chunk %d bytes%s"
              % (size // 1048576, args.transfer, args.chunk_size,
                 ", Expect: 100-continue" if args.expect_continue else ""))
        state = {"next": 0.0, "start": time.time()}
        interactive = sys.stdout.isatty()

        def progress(sent):
            done = sent / float(size) if size else 1.0
            if done >= state["next"] or sent == size:
                rate = sent / 1048576.0 / max(time.time() - state["start"], 1e-6)
                line = "  sent %6.1f%% %8.1f MiB  %7.1f MiB/s" % (done * 100, sent / 1048576.0, rate)
                # Redraw one line on a terminal; one line per 10% in a log.
                sys.stdout.write("\r" + line if interactive else line + "\n")
                sys.stdout.flush()
                state["next"] = done + (0.02 if interactive else 0.1)

        result = client.upload(image["id"], blocks, transfer=args.transfer, size=size,
                               chunk_size=args.chunk_size, expect_continue=args.expect_continue,
                               progress=progress)
        if interactive:
            print()
        if result.status != 204:
            print("FAILED: Glance answered %d: %s" % (result.status, result.body))
            return 1
        stored = client.wait_for_status(image["id"], "active", timeout=300)
        checks = {
            "size": stored["size"] == result.size,
            "md5 checksum": stored["checksum"] == result.md5,
            "sha512 os_hash_value": stored["os_hash_value"] == result.sha512,
        }
        if args.download:
            checks["downloaded bytes"] = client.download(image["id"]) == (result.size, result.md5, result.sha512)
        print("Status:    %s, %d bytes stored" % (stored["status"], stored["size"]))
        print("Speed:     %.1f MiB/s (%.2f s, answered %d)" % (result.mib_per_second, result.seconds, result.status))
        for name, ok in checks.items():
            print("Match:     %-22s %s" % (name, "yes" if ok else "NO"))
        if not args.keep:
            client.delete_image(image["id"])
        ok = all(checks.values())
        print("Checksums matched: %s" % ("yes" if ok else "NO"))
        return 0 if ok else 1
    except (GlanceError, OSError) as error:
        print("\nFAILED: %s" % error)
        return 1


if __name__ == "__main__":
    sys.exit(main())
