"""OpenAI's official Python SDK against `kino serve`: the SDK is used as shipped.

Run by tests/server.rs with KINO_BASE_URL and KINO_API_KEY set; exits non-zero on the first
failed check. Small clips (64x64, 1 s, 2 steps via extra_body) keep it quick on a CPU.
"""
import io
import os
import struct
import sys
import zlib

import openai
from openai import OpenAI

base = os.environ["KINO_BASE_URL"]
client = OpenAI(base_url=base, api_key=os.environ["KINO_API_KEY"], max_retries=0)
fast = {"steps": 2, "seed": 3}
out_dir = os.environ.get("KINO_SDK_OUT", ".")


def check(cond, what):
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


def png(w, h, rgb):
    raw = b"".join(b"\x00" + bytes(rgb) * w for _ in range(h))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


# create + poll
video = client.videos.create_and_poll(
    prompt="A red ball falls onto a wooden floor and bounces. Audio: a thud on each bounce.",
    model="sora-2",
    seconds="1",
    size="64x64",
    extra_body=fast,
    poll_interval_ms=200,
)
check(video.status == "completed", f"create_and_poll completes ({video.status}, {video.error})")
check(video.progress == 100, "progress is 100 when completed")
check(video.size == "64x64" and video.seconds == "1", "size and seconds echo the request")

# every download variant
for variant, magic in [("video", None), ("thumbnail", b"RIFF"), ("spritesheet", b"\xff\xd8")]:
    content = client.videos.download_content(video.id, variant=variant)
    data = content.read()
    path = os.path.join(out_dir, f"sdk_{variant}")
    content.write_to_file(path)
    check(len(data) > 100 and os.path.getsize(path) == len(data), f"download_content variant={variant} ({len(data)} bytes)")
    if magic:
        check(data.startswith(magic), f"{variant} has the right format")
    else:
        check(data[4:8] == b"ftyp", "video is an MP4")

# image-to-video with an uploaded first frame
first = client.videos.create(
    prompt="A calm blue sky.",
    seconds="1",
    size="64x64",
    input_reference=("frame.png", io.BytesIO(png(64, 64, (40, 90, 200))), "image/png"),
    extra_body=fast,
)
first = client.videos.poll(first.id, poll_interval_ms=200)
check(first.status == "completed", f"input_reference upload completes ({first.error})")

# remix and extend
remix = client.videos.remix(video.id, prompt="The same ball, now blue, at night.", extra_body=fast)
check(remix.remixed_from_video_id == video.id, "remix points at its source")
remix = client.videos.poll(remix.id, poll_interval_ms=200)
check(remix.status == "completed", "remix completes")
# The SDK sends the clip to extend or edit as an upload.
with open(os.path.join(out_dir, "sdk_video"), "rb") as f:
    ext = client.videos.extend(video=f, prompt="The ball rolls off to the right.", seconds="1", extra_body=fast)
ext = client.videos.poll(ext.id, poll_interval_ms=200)
check(ext.status == "completed" and ext.seconds == "2", f"extension of an uploaded clip completes with the stitched length ({ext.seconds}, {ext.error})")
with open(os.path.join(out_dir, "sdk_video"), "rb") as f:
    edit = client.videos.edit(video=f, prompt="Make it snow.", extra_body=fast)
edit = client.videos.poll(edit.id, poll_interval_ms=200)
check(edit.status == "completed", f"edit of an uploaded clip completes ({edit.error})")

# list pagination: pages of one, auto-paging through all four
ids = [v.id for v in client.videos.list(limit=1)]
check(len(ids) == 5 and len(set(ids)) == 5, f"auto-paging lists all five videos once ({len(ids)})")
page = client.videos.list(limit=2, order="asc")
check(page.data[0].id == video.id and page.has_more, "ascending order starts with the first video")

# errors
try:
    client.videos.create(prompt="a cat", size="999x999")
    check(False, "a bad size is refused")
except openai.BadRequestError as e:
    check(e.status_code == 400 and e.body.get("param") == "size", f"bad size -> 400 param=size ({e.body})")
try:
    client.videos.create(prompt="")
    check(False, "an empty prompt is refused")
except openai.BadRequestError as e:
    check(e.body.get("param") == "prompt", "empty prompt -> 400 param=prompt")
try:
    client.videos.create(prompt="Mickey Mouse dances on a rooftop at night.")
    check(False, "a policy violation is refused")
except openai.BadRequestError as e:
    check(e.body.get("code") == "moderation_blocked" and "copyright" in e.body.get("message", ""), f"copyrighted character -> 400 moderation_blocked ({e.body})")
try:
    client.videos.retrieve("video_doesnotexist")
    check(False, "an unknown id is refused")
except openai.NotFoundError:
    check(True, "unknown id -> 404 NotFoundError")
try:
    OpenAI(base_url=base, api_key="kino-sk-wrong", max_retries=0).videos.list()
    check(False, "a wrong key is refused")
except openai.AuthenticationError:
    check(True, "wrong key -> 401 AuthenticationError")

# delete
deleted = client.videos.delete(remix.id)
check(deleted.deleted and deleted.object == "video.deleted", "delete")
try:
    client.videos.retrieve(remix.id)
    check(False, "a deleted video is gone")
except openai.NotFoundError:
    check(True, "deleted video -> 404")
print("all SDK checks passed")
