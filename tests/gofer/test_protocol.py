"""The protocol module alone: every message round-trips, and nothing malformed gets through."""

from __future__ import annotations

import types
from typing import Any, get_type_hints

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gofer import protocol as p

ALL = sorted(p.MESSAGES.values(), key=lambda cls: cls.code)
BAD_NAMES = [b"", b".", b"..", b"a/b", b"/", b"a\0b", b"x" * 256]

names = st.binary(min_size=1, max_size=40).filter(
    lambda b: b not in (b".", b"..") and b"/" not in b and b"\0" not in b)
#: A listed entry's link target: empty (not a link), or a path without NUL.
targets = st.binary(max_size=40).filter(lambda b: b"\0" not in b)


def strategy(hint: Any) -> st.SearchStrategy[Any]:
    """Values of a field annotated ``hint``, as the wire can carry them."""
    if hint is p.Name:
        return names
    basic = {int: st.integers(-(1 << 63), (1 << 64) - 1), bool: st.booleans(),
             bytes: st.binary(max_size=64), str: st.text(max_size=20)}
    if hint in basic:
        return basic[hint]
    if hint is p.Listing:  # columns that agree: a name, LISTED_NUMBERS integers, a link target per entry
        rows = st.tuples(st.tuples(names, *[basic[int]] * p.LISTED_NUMBERS), targets)
        return st.lists(rows, max_size=5).map(lambda rows: p.Listing.of(*zip(*rows)) if rows else p.Listing.of([]))
    if isinstance(hint, types.GenericAlias):
        return st.lists(strategy(hint.__args__[0]), max_size=5)
    fields = get_type_hints(hint)
    return st.builds(hint, *(strategy(fields[f]) for f in hint._fields))


def decode_all(direction: p.Direction, data: bytes) -> list[tuple[int, Any]]:
    decoder = p.Decoder(direction)
    decoder.feed(data)
    return list(decoder)


@pytest.mark.parametrize("cls", ALL, ids=lambda cls: cls.__name__)
@settings(max_examples=25, deadline=None)  # a loaded CI machine is not a failure
@given(data=st.data(), tag=st.integers(0, p.U32_MAX))
def test_every_message_round_trips(cls: type, data: st.DataObject, tag: int) -> None:
    msg = data.draw(strategy(cls))
    assert decode_all(cls.direction, p.encode(msg, tag)) == [(tag, msg)]


def test_the_schema_has_every_message_of_the_brief() -> None:
    """The brief's messages, and the batched ones of docs/caching.md."""
    wanted = {"version", "attach", "walk", "walkgetattr", "getattr", "setattr", "lopen", "lcreate",
              "read", "write", "readdir", "mkdir", "symlink", "readlink", "link", "mknod",
              "renameat", "unlinkat", "fsync", "statfs", "clunk", "flush",
              "walkattrs", "readdirattr", "readdirtree", "walkopen", "openmany",
              "xattrget", "xattrlist", "xattrset", "xattrremove"}  # user.* attributes (issue 15)
    requests = {cls.__name__[1:] for cls in ALL if cls.direction is p.Direction.REQUEST}
    assert requests == wanted
    assert all(p.REPLY_TO[p.MESSAGES[code]].code == code + 1 for code in p.MESSAGES if code % 2 == 0)


def test_frames_split_anywhere_decode_the_same() -> None:
    frames = [p.encode(p.Twalk(1, 2, [b"etc", b"passwd"]), 7), p.encode(p.Tread(2, 0, 10), 8)]
    stream = b"".join(frames)
    for cut in range(len(stream) + 1):
        decoder = p.Decoder(p.Direction.REQUEST)
        decoder.feed(stream[:cut])
        got = list(decoder)
        decoder.feed(stream[cut:])
        got += list(decoder)
        assert [tag for tag, _ in got] == [7, 8]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_bad_name_in_a_request_decodes_to_einval(name: bytes) -> None:
    for frame in ([110, 3, 1, 2, [b"ok", name]], [72, 3, 1, name, 0o755, 0, 0],
                  [74, 3, 1, b"ok", 1, name, 0]):
        [(tag, msg)] = decode_all(p.Direction.REQUEST, msgpack.packb(frame))
        assert tag == 3 and msg == p.Invalid(22, frame[0])


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_bad_name_is_refused_at_encode_and_in_replies(name: bytes) -> None:
    with pytest.raises(p.InvalidName):
        p.encode(p.Twalk(1, 2, [name]), 1)
    with pytest.raises(p.InvalidName):
        p.encode(p.Tlcreate(1, name, 0, 0, 0, 0), 1)
    reply = msgpack.packb([41, 1, [[[0, 0, 1], 1, 8, name]]])
    with pytest.raises(p.ProtocolError):
        decode_all(p.Direction.REPLY, reply)
    listing = [[b"ok", name, b"fine"], [0] * (3 * p.LISTED_NUMBERS)]
    with pytest.raises(p.ProtocolError):
        decode_all(p.Direction.REPLY, msgpack.packb([p.Rreaddirattr.code, 1, listing, True]))


@pytest.mark.parametrize("frame", [
    {"type": 110},                    # not an array
    [110],                            # no tag
    [999, 1],                         # unknown type
    [111, 1, []],                     # a reply where requests are expected
    [120, 1],                         # too few fields
    [120, 1, 5, 6],                   # too many fields
    [120, 1, "5"],                    # wrong type
    [120, 1, True],                   # a bool is not an int
    [120, -1, 5],                     # negative tag
    [120, 1 << 32, 5],                # tag too big
    [110, 1, 1, 2, "etc"],            # names must be an array
    [110, 1, 1, 2, ["etc"]],          # a name must be bin, not str
    [16, 1, 1, b"n", "t", 0, 0],      # symlink target must be bin
    [116, 1, 1, 1.5, 10],             # a float
    [118, 1, 1, 0, None],             # nil
])
def test_wrong_shapes_are_protocol_errors(frame: Any) -> None:
    with pytest.raises(p.ProtocolError):
        decode_all(p.Direction.REQUEST, msgpack.packb(frame))


def test_wrong_nested_shapes_are_protocol_errors() -> None:
    for reply in ([105, 1, [0, 0]], [105, 1, [0, 0, "x"]], [25, 1, 0, [0, 0, 1], [1] * 10],
                  [41, 1, [[[0, 0, 1], 1, 8]]], [13, 1, [0, 0, 1], 4096, 1],
                  [105, 1, [0, 0, True]], [25, 1, 0, [0, 0, 1], [1] * 10 + [False]],  # a bool is no int
                  [25, 1, 0, [0, 0, 1], [1] * 10 + [None]], [105, 1, []]):
        with pytest.raises(p.ProtocolError):
            decode_all(p.Direction.REPLY, msgpack.packb(reply))


def test_an_oversized_frame_is_refused() -> None:
    decoder = p.Decoder(p.Direction.REQUEST, max_message=p.MIN_MSIZE)
    decoder.feed(p.encode(p.Twrite(1, 0, b"x" * p.MIN_MSIZE), 1))
    with pytest.raises(p.ProtocolError):
        list(decoder)


def test_unbounded_input_is_refused_at_feed() -> None:
    decoder = p.Decoder(p.Direction.REQUEST, max_message=p.MIN_MSIZE)
    header = b"\xc6" + (1 << 30).to_bytes(4, "big")  # a 1 GiB bin that never ends
    with pytest.raises(p.ProtocolError):
        for _ in range(100):
            decoder.feed(header if _ == 0 else b"\0" * p.READ_CHUNK)
            list(decoder)


def test_a_failed_decoder_stays_failed() -> None:
    decoder = p.Decoder(p.Direction.REQUEST)
    decoder.feed(msgpack.packb([999, 1]))
    with pytest.raises(p.ProtocolError):
        list(decoder)
    with pytest.raises(p.ProtocolError):
        decoder.feed(p.encode(p.Tclunk(1), 2))


def feed_in_chunks(data: bytes, cuts: list[int], direction: p.Direction) -> None:
    decoder = p.Decoder(direction, max_message=p.MIN_MSIZE)
    position = 0
    for cut in sorted(cuts) + [len(data)]:
        decoder.feed(data[position:cut])
        position = cut
        for _tag, _msg in decoder:
            pass


@settings(max_examples=400, deadline=None)
@given(data=st.binary(max_size=300), cuts=st.lists(st.integers(0, 300), max_size=4),
       direction=st.sampled_from(p.Direction))
def test_arbitrary_bytes_give_frames_or_protocol_error_only(data: bytes, cuts: list[int],
                                                            direction: p.Direction) -> None:
    try:
        feed_in_chunks(data, [min(c, len(data)) for c in cuts], direction)
    except p.ProtocolError:
        pass


msgpack_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(1 << 63), (1 << 64) - 1) | st.floats()
    | st.text(max_size=8) | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=20)


@settings(max_examples=400, deadline=None)
@given(code=st.sampled_from(sorted(p.MESSAGES)) | st.integers(-5, 300),
       tag=st.integers(-2, (1 << 32) + 1), fields=st.lists(msgpack_values, max_size=9))
def test_wrong_shaped_frames_give_messages_or_protocol_error_only(code: int, tag: int,
                                                                  fields: list[Any]) -> None:
    frame = msgpack.packb([code, tag, *fields], use_bin_type=True)
    for direction in p.Direction:
        try:
            for _tag, msg in decode_all(direction, frame):
                assert isinstance(msg, (p.Invalid, *p.MESSAGES.values()))
        except p.ProtocolError:
            pass


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_truncated_frames_need_more_data(data: st.DataObject) -> None:
    cls = data.draw(st.sampled_from(ALL))
    frame = p.encode(data.draw(strategy(cls)), 1)
    cut = data.draw(st.integers(0, len(frame) - 1))
    assert decode_all(cls.direction, frame[:cut]) == []


def test_a_listing_decodes_to_entries_that_read_as_qid_and_attributes() -> None:
    """ListedFile's fields are the cookie, Qid's and Attr's, in the order the gofer writes them."""
    attr = p.Attr(0o100644, 1, 2, 3, 4, 5, 4096, 8, 10, 20, 30)
    qid = p.Qid(p.QTFILE, 0, 99)
    listing = p.Listing([b"a", b"b"], [1, *qid, *attr, 2, *qid, *attr], [b"", b"../a"])
    [(_, reply)] = decode_all(p.Direction.REPLY, p.encode(p.Rreaddirattr(listing, True), 1))
    first, second = reply.entries.files()
    assert (first.name, first.offset, first.ino, first.qid, first.attr) == (b"a", 1, 99, qid, attr)
    assert second.name == b"b" and second.offset == 2 and second.mode == attr.mode
    assert reply.entries.targets == [b"", b"../a"]
    assert p.ListedFile._fields[5:] == p.Attr._fields


@pytest.mark.parametrize("listing", [
    [[b"a"], [0] * (p.LISTED_NUMBERS - 1), [b""]],      # one integer short
    [[b"a"], [0] * (p.LISTED_NUMBERS + 1), [b""]],      # one too many
    [[b"a"], [0] * (p.LISTED_NUMBERS - 1) + [True], [b""]],  # a bool is not an int
    [[b"a"], [0] * (p.LISTED_NUMBERS - 1) + [1.5], [b""]],
    [[b"a"], [0] * (p.LISTED_NUMBERS - 1) + [None], [b""]],
    [["a"], [0] * p.LISTED_NUMBERS, [b""]],             # a name must be bin
    [[b"a"], [[0]] * p.LISTED_NUMBERS, [b""]],
    [[b"a"]],                                           # no numbers
    [[b"a"], [0] * p.LISTED_NUMBERS],                   # no targets
    [[b"a"], [0] * p.LISTED_NUMBERS, []],               # a target short
    [[b"a"], [0] * p.LISTED_NUMBERS, [b"", b""]],       # one too many
    [[b"a"], [0] * p.LISTED_NUMBERS, ["x"]],            # a target must be bin
    [[b"a"], [0] * p.LISTED_NUMBERS, [None]],
    [[b"a"], [0] * p.LISTED_NUMBERS, [b"a\0b"]],        # no NUL in a target
    [[b"a"], [0] * p.LISTED_NUMBERS, [b"x" * 4096]],    # PATH_MAX with its NUL
    [[b"a"], [0] * p.LISTED_NUMBERS, b"x"],
    [[b"a"], [0] * p.LISTED_NUMBERS, [b""], []],        # a fourth column
    {"names": [b"a"]},
])
def test_a_malformed_listing_is_a_protocol_error(listing: Any) -> None:
    with pytest.raises(p.ProtocolError):
        decode_all(p.Direction.REPLY, msgpack.packb([p.Rreaddirattr.code, 1, listing, True]))
    tree = [p.Rreaddirtree.code, 1, [[], [], []], True, [[-1, b"d", listing]]]
    with pytest.raises(p.ProtocolError):
        decode_all(p.Direction.REPLY, msgpack.packb(tree))
