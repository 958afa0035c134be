"""The TypeScript facts extractor (``codegen/tsfacts.py``) and its checked-in snapshot.

The parser is tried on small hand-written declaration snippets shaped like those of
``@peertube/peertube-types``; the snapshot tests assert facts read by hand in the real
packages. Nothing here uses the network: ``npm`` is replaced by a script.
"""

from __future__ import annotations

import io
import json
import os
import stat
import tarfile
from pathlib import Path
from typing import Any

import pytest

from peertube_async.codegen import tsfacts
from peertube_async.codegen.tsfacts import extract, parse, read_tarball, write_snapshot


def facts(text: str) -> dict[str, Any]:
    """The snapshot of a single release made of ``text``."""
    return extract({"1.0.0": text})


def fields(text: str, model: str) -> dict[str, str]:
    """``{field: code}`` of ``model`` in a single release."""
    return dict(facts(text)["models"][model]["fields"])


def types(text: str, model: str) -> dict[str, str]:
    return dict(facts(text)["models"][model]["types"])


# -- presence and nullability ------------------------------------------------------------


def test_nullable_and_optional_combinations() -> None:
    text = """
    interface Thing {
        a: string;
        b: number | null;
        c?: string;
        d?: Date | string | null;
        e: number | undefined;
        f: null | undefined | boolean;
        readonly g: string;
        'quoted-key'?: any;
    }
    """
    assert fields(text, "Thing") == {
        "a": "R",
        "b": "N",
        "c": "o",
        "d": "n",
        "e": "o",
        "f": "n",
        "g": "R",
        "quoted-key": "o",
    }
    got = types(text, "Thing")
    assert got["b"] == "number"
    assert got["d"] == "Date | string"
    assert got["f"] == "boolean"


def test_type_text_collapses_whitespace() -> None:
    text = "interface T {\n  x: Array<\n    string\n  > |   number;\n  y: 'a'|'b';\n}"
    assert types(text, "T") == {"x": "Array<string> | number", "y": "'a' | 'b'"}


def test_methods_index_signatures_and_call_signatures_are_not_fields() -> None:
    text = """
    interface Helpers {
        [key: string]: any;
        (arg: number): void;
        new (x: string): Helpers;
        run(a: string, b?: number): Promise<void>;
        get size(): number;
        callback: (err: Error | null, value?: { ok: boolean }) => void;
    }
    """
    assert fields(text, "Helpers") == {"callback": "R"}
    assert types(text, "Helpers")["callback"] == (
        "(err: Error | null, value?: { ok: boolean }) => void"
    )


# -- inheritance ---------------------------------------------------------------------------


BASE = """
interface Base {
    id: number;
    name?: string;
    note: string | null;
}
interface Extra {
    extra: number;
    other?: boolean;
}
"""


def test_extends_flattens_parents_and_own_declarations_win() -> None:
    text = BASE + "interface Child extends Base, Extra { name: string; own: string[]; }"
    assert fields(text, "Child") == {
        "id": "R",
        "name": "R",
        "note": "N",
        "extra": "R",
        "other": "o",
        "own": "R",
    }


def test_partial_omit_pick_in_extends() -> None:
    text = BASE + (
        "interface P extends Partial<Base> { id: number; }\n"
        "interface Q extends Omit<Base, 'name' | 'note'>, Pick<Extra, 'other'> { }\n"
    )
    assert fields(text, "P") == {"id": "R", "name": "o", "note": "n"}
    assert fields(text, "Q") == {"id": "R", "other": "o"}


def test_type_aliases_intersections_and_utility_types() -> None:
    text = BASE + (
        "type Keys = 'id' | 'note';\n"
        "type Picked = Pick<Base, Keys>;\n"
        "type Dropped = Omit<Base, keyof Extra | 'id'>;\n"
        "type Both = Partial<Base> & { id: number; added?: string | null };\n"
        "type Req = Required<Pick<Base, 'name'>>;\n"
        "type Renamed = Base;\n"
    )
    assert fields(text, "Picked") == {"id": "R", "note": "N"}
    assert fields(text, "Dropped") == {"name": "o", "note": "N"}
    # In A & B a field may be missing only when it may be missing in both.
    assert fields(text, "Both") == {"id": "R", "name": "o", "note": "n", "added": "n"}
    assert fields(text, "Req") == {"name": "R"}
    assert fields(text, "Renamed") == fields(text, "Base")


def test_union_of_object_types_merges_variants() -> None:
    text = """
    type Attachment = {
        type: 'PropertyValue';
        name: 'codec';
        value: 'video' | 'audio';
    } | {
        type: 'PropertyValue';
        name: 'flag';
        value: 'web-video';
        extra: number;
    } | string;
    """
    assert fields(text, "Attachment") == {"type": "R", "name": "R", "value": "R", "extra": "o"}
    assert types(text, "Attachment")["value"] == "'video' | 'audio' | 'web-video'"


def test_bundler_renamed_omit_is_still_omit() -> None:
    text = BASE + (
        "type Omit$1<T, K extends keyof any> = Pick<T, Exclude<keyof T, K>>;\n"
        "type NoNote = Omit$1<Base, 'note'>;\n"
    )
    assert fields(text, "NoNote") == {"id": "R", "name": "o"}


def test_record_of_listable_keys_has_one_field_per_key() -> None:
    text = """
    type ActivityType = 'Create' | 'Update';
    type Successes = Record<`total${ActivityType}Successes`, number>;
    interface ServerStats extends Successes, Record<'a' | 'b', string | null> {
        totalUsers: number;
    }
    type Open = Record<string, number>;
    type Wild = Record<`x${string}`, number>;
    """
    assert fields(text, "ServerStats") == {
        "totalCreateSuccesses": "R",
        "totalUpdateSuccesses": "R",
        "a": "N",
        "b": "N",
        "totalUsers": "R",
    }
    models = facts(text)["models"]
    assert "Open" not in models
    assert "Wild" not in models


def test_cycles_do_not_recurse_forever() -> None:
    text = "interface A extends B { a: string; }\ninterface B extends A { b: string; }"
    assert fields(text, "A") == {"a": "R", "b": "R"}


# -- generics ------------------------------------------------------------------------------


def test_generic_interfaces_substitute_their_arguments() -> None:
    text = """
    interface VideoConstant<T> { id: T; label: string; description?: string; }
    interface Nullable extends VideoConstant<number | null> { }
    interface ResultList<T = string> { total: number; data: T[]; }
    interface Strings extends ResultList { }
    interface Video { privacy: VideoConstant<VideoPrivacyType>; }
    """
    assert types(text, "VideoConstant") == {"id": "T", "label": "string", "description": "string"}
    assert fields(text, "Nullable")["id"] == "N"
    assert types(text, "Nullable")["id"] == "number"
    assert types(text, "Strings")["data"] == "string[]"
    assert types(text, "Video")["privacy"] == "VideoConstant<VideoPrivacyType>"


# -- inline objects ------------------------------------------------------------------------


NESTED = """
interface Video {
    userHistory?: {
        currentTime: number;
        last?: { at: string; } | null;
    };
    redundancies: {
        baseUrl: string;
    }[];
    files: (VideoFile & { playlistUrl: string; })[];
    ids: Array<{ id: number }>;
    attributedTo: { type: 'Group'; id: string } | string;
    mapping: Record<string, { ok: boolean }>;
    empty: { [key: string]: number };
}
interface VideoFile { size: number; }
interface VideoDetails extends Video { }
"""


def test_inline_objects_become_pseudo_models() -> None:
    snapshot = facts(NESTED)
    models = snapshot["models"]
    assert models["Video"]["types"] == {
        "userHistory": "Video.userHistory",
        "redundancies": "Video.redundancies[]",
        "files": "Video.files[]",
        "ids": "Array<Video.ids>",
        "attributedTo": "Video.attributedTo | string",
        "mapping": "Record<string, { ok: boolean }>",
        "empty": "{ [key: string]: number }",
    }
    assert models["Video.userHistory"]["fields"] == {"currentTime": "R", "last": "n"}
    assert models["Video.userHistory"]["types"]["last"] == "Video.userHistory.last"
    assert models["Video.userHistory.last"]["fields"] == {"at": "R"}
    assert models["Video.redundancies"]["fields"] == {"baseUrl": "R"}
    assert models["Video.files"]["fields"] == {"size": "R", "playlistUrl": "R"}
    assert models["Video.ids"]["fields"] == {"id": "R"}
    assert models["Video.attributedTo"]["fields"] == {"type": "R", "id": "R"}
    assert "Video.mapping" not in models
    assert "Video.empty" not in models


def test_inherited_inline_objects_keep_the_declaring_model_name() -> None:
    models = facts(NESTED)["models"]
    assert models["VideoDetails"]["types"]["userHistory"] == "Video.userHistory"
    assert "VideoDetails.userHistory" not in models


def test_inline_objects_of_alias_intersections_are_named_after_the_alias() -> None:
    text = "interface A { a: string; }\ntype B = A & { meta: { at: string } };"
    models = facts(text)["models"]
    assert models["B"]["types"]["meta"] == "B.meta"
    assert models["B.meta"]["fields"] == {"at": "R"}


# -- constants and aliases -----------------------------------------------------------------


CONSTANTS = """
declare const VideoState: {
    readonly PUBLISHED: 1;
    readonly TO_TRANSCODE: 2;
};
type VideoStateType = typeof VideoState[keyof typeof VideoState];
declare const Flag: {
    readonly NONE: number;
    readonly VIOLENT: number;
};
type FlagType = typeof Flag[keyof typeof Flag];
declare const hookObject: {
    'filter:api.video.get': true;
};
declare const Mixed: { readonly A: 'a'; readonly B: -1; };
export declare const enum VideoPrivacy {
    PUBLIC = 1,
    UNLISTED = 2
}
export declare enum ErrorCode {
    /**
     * A JSDoc comment inside an enum.
     */
    TOO_BIG = "too_big",
    // A line comment too.
    QUOTA = 'quota'
}
enum Counted { ZERO, ONE, TEN = 10, ELEVEN }
"""


def test_const_objects_and_enums_are_constants() -> None:
    snapshot = facts(CONSTANTS)
    constants = snapshot["constants"]
    assert constants["VideoState"] == {"members": {"PUBLISHED": 1, "TO_TRANSCODE": 2}}
    assert constants["VideoPrivacy"]["members"] == {"PUBLIC": 1, "UNLISTED": 2}
    assert constants["ErrorCode"]["members"] == {"TOO_BIG": "too_big", "QUOTA": "quota"}
    assert constants["Counted"]["members"] == {"ZERO": 0, "ONE": 1, "TEN": 10, "ELEVEN": 11}
    assert constants["Mixed"]["members"] == {"A": "a", "B": -1}
    # Values computed as ``1 << n`` are only ``number`` in the declarations.
    assert constants["Flag"]["members"] == {"NONE": None, "VIOLENT": None}
    assert "hookObject" not in constants


def test_aliases_link_types_to_constants() -> None:
    aliases = facts(CONSTANTS)["aliases"]
    assert aliases["VideoStateType"] == "VideoState"
    assert aliases["FlagType"] == "Flag"
    # Enums are types themselves: ``VideoConstant<VideoPrivacy>`` before 6.0.
    assert aliases["VideoPrivacy"] == "VideoPrivacy"
    assert aliases["ErrorCode"] == "ErrorCode"
    assert "VideoState" not in aliases


def test_constants_history_over_versions() -> None:
    old = "export declare const enum VideoState { PUBLISHED = 1, GONE = 7, FLAG = 4 }"
    mid = (
        "declare const VideoState: { readonly PUBLISHED: 1; readonly GONE: 7; "
        "readonly FLAG: number; };"
    )
    new = (
        "declare const VideoState: { readonly PUBLISHED: 1; readonly NEW_ONE: 12; "
        "readonly FLAG: number; };"
    )
    snapshot = extract({"2.0.0": mid, "10.0.0": new, "1.0.0": old})
    assert snapshot["versions"] == ["1.0.0", "2.0.0", "10.0.0"]
    assert snapshot["constants"]["VideoState"] == {
        "members": {"PUBLISHED": 1, "GONE": 7, "NEW_ONE": 12, "FLAG": 4},
        "since": {"NEW_ONE": "10.0.0"},
        "until": {"GONE": "2.0.0"},
    }


# -- versions ------------------------------------------------------------------------------


def test_fields_over_versions() -> None:
    v1 = "interface Video { id: number; legacy: string; }"
    v2 = "interface Video { id: number; aspectRatio: number | null; privacy: Old; }"
    v3 = "interface Video { id: number; aspectRatio: number | null; privacy?: New; }"
    snapshot = extract({"1.0.0": v1, "2.0.0": v2, "3.0.0": v3})
    video = snapshot["models"]["Video"]
    assert video["fields"] == {
        "id": "RRR",
        "legacy": "R--",
        "aspectRatio": "-NN",
        "privacy": "-Ro",
    }
    # The type text is the newest one.
    assert video["types"]["privacy"] == "New"
    assert snapshot["legend"]["-"] == "not declared"
    assert snapshot["source"] == "@peertube/peertube-types"


def test_model_missing_from_a_version_is_dashes() -> None:
    snapshot = extract({"1.0.0": "", "2.0.0": "interface Runner { id: number; }"})
    assert snapshot["models"]["Runner"]["fields"] == {"id": "-R"}


# -- tolerance -----------------------------------------------------------------------------


def test_unknown_constructs_are_skipped() -> None:
    text = """
    import express, { Response } from 'express';
    import * as winston from 'winston';
    export * from './models';
    export { A as B, C };
    export type { D };
    declare function f<T>(x: T, { a, b }: { a: string; b: number }): asserts x is string;
    declare class VideoModel extends Model<Partial<AttributesOnly<VideoModel>>> {
        id: number;
        static load(id: number): Promise<MVideo>;
        get size(): number;
    }
    declare namespace Includes {
        interface Hidden { x: string; }
    }
    declare global {
        namespace Express { interface Request { rawBody: Buffer; } }
    }
    declare module 'express' { interface Locals { v: string; } }
    type Mapped<T> = { [P in keyof T]?: T[P] };
    type Cond<T> = T extends string ? 'yes' : T extends infer U ? U : never;
    type Tpl = `video-${string}`;
    type Tuple = [name: string, value?: number, ...rest: boolean[]];
    type Ctor = abstract new (...args: any[]) => object;
    type Sym = unique symbol;
    declare let counter: number;
    this is not TypeScript at all ))) }}} ;
    interface Survivor { ok: boolean; items: readonly string[]; kind: typeof import('x').Y; }
    """
    snapshot = facts(text)
    assert snapshot["models"]["Survivor"]["fields"] == {"ok": "R", "items": "R", "kind": "R"}
    assert snapshot["models"]["Survivor"]["types"]["items"] == "readonly string[]"
    for hidden in ("VideoModel", "Hidden", "Request", "Locals", "Mapped", "Tpl", "Tuple"):
        assert hidden not in snapshot["models"]


def test_garbage_does_not_crash() -> None:
    for text in ("interface", "type X =", "interface X { a: ", "declare const X: {", "}{)(<>"):
        assert facts(text)["models"] == {}


def test_comments_are_ignored() -> None:
    text = """
    /** A model. */
    interface Commented { // trailing
        /* before */ a: /* inside */ string; // after
        /**
         * @deprecated use b
         */
        b?: number;
        url: 'http://example.org/*not-a-comment*/';
    }
    """
    assert fields(text, "Commented") == {"a": "R", "b": "o", "url": "R"}
    assert types(text, "Commented")["url"] == "'http://example.org/*not-a-comment*/'"


def test_sequelize_model_types_are_skipped() -> None:
    text = (
        "type MVideo = Omit<VideoModel, 'Tags'>;\n"
        "type MVideoAPI = MVideo & { totalReplies: number };\n"
        "interface MyUser { id: number; }\n"
    )
    models = facts(text)["models"]
    assert "MVideoAPI" not in models
    assert models["MyUser"]["fields"] == {"id": "R"}


def test_declarations_merge_within_one_file_only() -> None:
    marker = tsfacts.FILE_MARKER
    same_file = "interface A { a: string; }\ninterface A { b?: number; }"
    assert fields(same_file, "A") == {"a": "R", "b": "o"}
    # Identical declarations in two files (the client bundle repeats models): kept.
    one = "interface A { a: string; }\n"
    twice = f"{marker}x.d.ts\n{one}{marker}y.d.ts\n{one}"
    assert fields(twice, "A") == {"a": "R"}
    # Different declarations of one name in two files (server ScopeNames): dropped.
    clash = (
        f"{marker}x.d.ts\nexport declare enum ScopeNames {{ A = 'A' }}\n"
        f"{marker}y.d.ts\nexport declare enum ScopeNames {{ B = 'B' }}\n"
    )
    assert "ScopeNames" not in facts(clash)["constants"]
    assert "ScopeNames" in parse(clash).ambiguous


# -- tarballs, npm and the snapshot file ---------------------------------------------------


def make_tarball(path: Path, files: dict[str, str]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_read_tarball_keeps_files_apart(tmp_path: Path) -> None:
    # A file ending in a comment without a newline must not swallow the next file.
    tgz = make_tarball(
        tmp_path / "t.tgz",
        {
            "package/b/video.d.ts": "export interface Video { id: number; }\n//# source=x",
            "package/a/state.d.ts": "export declare const enum S { A = 1 }\n//# source=y",
            "package/README.md": "interface NotRead { x: string; }",
            "other/ignored.d.ts": "interface Ignored { x: string; }",
        },
    )
    text = read_tarball(tgz)
    assert text.index("package/a/state.d.ts") < text.index("package/b/video.d.ts")
    snapshot = facts(text)
    assert set(snapshot["models"]) == {"Video"}
    assert snapshot["constants"]["S"]["members"] == {"A": 1}


def test_write_snapshot_from_tarballs(tmp_path: Path) -> None:
    for version, body in (("1.0.0", "id: number;"), ("1.1.0", "id: number; x?: string;")):
        make_tarball(
            tmp_path / f"peertube-peertube-types-{version}.tgz",
            {"package/index.d.ts": f"interface Video {{ {body} }}"},
        )
    out = tmp_path / "facts" / "types.json"
    snapshot = write_snapshot(out, versions=["1.0.0", "1.1.0"], tarballs_dir=tmp_path)
    text = out.read_text()
    assert text == json.dumps(snapshot, indent=1, sort_keys=True) + "\n"
    assert json.loads(text)["models"]["Video"]["fields"] == {"id": "RR", "x": "-o"}
    # Deterministic: a second run writes the same bytes.
    write_snapshot(out, versions=["1.0.0", "1.1.0"], tarballs_dir=tmp_path)
    assert out.read_text() == text


def test_fetch_runs_npm_pack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_tarball(
        tmp_path / "source.tgz", {"package/index.d.ts": "interface Video { id: number; }"}
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    # A stand-in for npm: `npm pack --silent @peertube/peertube-types@X` in the cwd.
    npm.write_text(
        "#!/bin/sh\n"
        'version="${3##*@}"\n'
        f'cp "{source}" "peertube-peertube-types-$version.tgz"\n'
        'echo "$@" >> calls.txt\n'
    )
    npm.chmod(npm.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    work = tmp_path / "work"
    texts = tsfacts.fetch(["6.3.0"], work)
    assert set(texts) == {"6.3.0"}
    assert "interface Video" in texts["6.3.0"]
    assert (work / "calls.txt").read_text().split() == [
        "pack",
        "--silent",
        "@peertube/peertube-types@6.3.0",
    ]


# -- the checked-in snapshot ---------------------------------------------------------------


@pytest.fixture(scope="module")
def snapshot() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(tsfacts.SNAPSHOT.read_text())
    return data


def test_snapshot_shape(snapshot: dict[str, Any]) -> None:
    assert snapshot["source"] == "@peertube/peertube-types"
    assert snapshot["versions"] == list(tsfacts.VERSIONS)
    assert snapshot["legend"] == tsfacts.LEGEND
    width = len(tsfacts.VERSIONS)
    for model in snapshot["models"].values():
        assert set(model["fields"]) == set(model["types"])
        for code in model["fields"].values():
            assert len(code) == width
            assert set(code) <= set(tsfacts.LEGEND)
    assert tsfacts.SNAPSHOT.stat().st_size < 600_000
    text = tsfacts.SNAPSHOT.read_text()
    assert text == json.dumps(snapshot, indent=1, sort_keys=True) + "\n"


def test_snapshot_video_facts(snapshot: dict[str, Any]) -> None:
    models = snapshot["models"]
    video = models["Video"]
    assert video["fields"]["id"] == "RRRRRRRRR"
    assert video["types"]["id"] == "number"
    # `aspectRatio: number | null` since 6.1 (first here in 6.3.0).
    assert video["fields"]["aspectRatio"] == "----NNNNN"
    # `extends Partial<VideoAdditionalAttributes>`: optional in Video, required in details.
    assert video["fields"]["state"] == "ooooooooo"
    assert models["VideoDetails"]["fields"]["state"] == "RRRRRRRRR"
    assert video["types"]["state"] == "ConstantLabel<VideoStateType>"
    # VideoConstant<T> was renamed ConstantLabel<T> in 8.1.
    assert models["VideoConstant"]["fields"]["id"] == "RRRRRRR--"
    assert models["ConstantLabel"]["fields"]["id"] == "-------RR"
    assert video["fields"]["thumbnails"] == "-------RR"
    assert video["types"]["userHistory"] == "Video.userHistory"
    assert models["Video.userHistory"]["fields"] == {"currentTime": "RRRRRRRRR"}
    # commentsEnabled: boolean gave way to the commentsPolicy object (6.2 to 7.x).
    details = models["VideoDetails"]
    assert details["fields"]["commentsEnabled"] == "RRRRRR---"
    assert details["fields"]["commentsPolicy"] == "----RRRRR"
    assert details["types"]["commentsPolicy"] == "VideoDetails.commentsPolicy"
    assert models["User"]["fields"]["lastLoginDate"] == "NNNNNNNNN"


def test_snapshot_constants(snapshot: dict[str, Any]) -> None:
    constants = snapshot["constants"]
    state = constants["VideoState"]
    assert state["members"]["PUBLISHED"] == 1
    assert state["members"]["TO_EDIT"] == 9
    assert state["since"]["TO_MOVE_TO_FILE_SYSTEM"] == "6.0.4"
    assert state["since"]["TO_IMPORT_FAILED"] == "8.0.2"
    assert "PUBLISHED" not in state["since"]
    assert constants["VideoPrivacy"]["members"]["PASSWORD_PROTECTED"] == 5
    assert constants["VideoPrivacy"]["since"] == {"PASSWORD_PROTECTED": "6.0.4"}
    # VideoStorage became FileStorage in 6.3.
    assert constants["VideoStorage"]["until"]["OBJECT_STORAGE"] == "6.0.4"
    assert constants["FileStorage"]["members"] == {"FILE_SYSTEM": 0, "OBJECT_STORAGE": 1}
    # Bit flags are `number` from 6.0 on: the values come from the older enums.
    assert constants["VideoInclude"]["members"]["CAPTIONS"] == 16
    assert constants["NSFWFlag"]["members"]["VIOLENT"] is None
    assert "ScopeNames" not in constants


def test_snapshot_aliases(snapshot: dict[str, Any]) -> None:
    aliases = snapshot["aliases"]
    assert aliases["VideoStateType"] == "VideoState"
    assert aliases["VideoState"] == "VideoState"  # a const enum up to 5.2
    assert aliases["VideoPlaylistType_Type"] == "VideoPlaylistType"
    assert set(aliases.values()) <= set(snapshot["constants"])
