#!/usr/bin/python3
"""MLflow's file-store model registry on a local directory, for tools/bench/registry.

Usage: registry_mlflow.py DIR VERSIONS MOVES

Reproduces mlflow/store/model_registry/file_store.py (FileStore, commit
001cc178) without MLflow: the same files (DIR/models/<name>/meta.yaml,
version-<N>/meta.yaml, aliases/<alias>, tags/<key>), the same reads and
writes in the same order, the same directory scans (MLflow finds `aliases/`
and `tags/` by listing the parent directory and comparing every entry, and
re-reads `aliases/` for every version it loads), YAML through libyaml's
CSafeLoader/CSafeDumper as mlflow.utils.file_utils uses when available, and
overwrite_yaml's mkstemp + move.  What it leaves out is the cost of MLflow's
entity objects (from_dictionary, _properties() recomputed per key, proto
mappers) and argument validation, so its figures are a lower bound for
MLflow's.

Prints "name value" lines:
  register_ms       mean ms per create_model_version over VERSIONS registrations
  alias_move_us     mean us per set_registered_model_alias, alternating the
                    alias between versions 1 and 2 (over MOVES moves, or
                    ALIAS_MOVES if set: every move costs the same, as the
                    store does not grow, but each one loads every version)
  stage_move_us     mean us per transition_model_version_stage(Production,
                    archive_existing_versions=True), alternating between
                    versions 1 and 2, over min(MOVES, 1000) moves
  list_versions_ms  search_model_versions over all VERSIONS versions, best of 5
History: MLflow keeps none.  An alias move overwrites aliases/<alias>, a stage
move rewrites current_stage in meta.yaml; the previous value is lost, so there
is nothing to time against mlfs's history.csv.
"""
import codecs
import errno
import os
import shutil
import sys
import tempfile
import time
import uuid

import yaml

try:
    from yaml import CSafeDumper as YamlSafeDumper
    from yaml import CSafeLoader as YamlSafeLoader
except ImportError:
    from yaml import SafeDumper as YamlSafeDumper
    from yaml import SafeLoader as YamlSafeLoader

ENCODING = "utf-8"

# mlflow/entities/model_registry/model_version_stages.py
STAGE_NONE = "None"
STAGE_STAGING = "Staging"
STAGE_PRODUCTION = "Production"
STAGE_ARCHIVED = "Archived"
STAGE_DELETED_INTERNAL = "Deleted_Internal"
ALL_STAGES = [STAGE_NONE, STAGE_STAGING, STAGE_PRODUCTION, STAGE_ARCHIVED]
DEFAULT_STAGES_FOR_GET_LATEST_VERSIONS = [STAGE_STAGING, STAGE_PRODUCTION]
_CANONICAL_MAPPING = {stage.lower(): stage for stage in ALL_STAGES}


def get_canonical_stage(stage):
    key = stage.lower()
    if key not in _CANONICAL_MAPPING:
        raise ValueError(f"Invalid Model Version stage: {stage}.")
    return _CANONICAL_MAPPING[key]


def get_current_time_millis():
    return int(time.time() * 1000)


# mlflow/utils/file_utils.py
def exists(name):
    return os.path.exists(name)


def list_all(root, filter_func=lambda x: True, full_path=False):
    if not os.path.isdir(root):
        raise Exception(f"Invalid parent directory '{root}'")
    matches = [x for x in os.listdir(root) if filter_func(os.path.join(root, x))]
    return [os.path.join(root, m) for m in matches] if full_path else matches


def list_subdirs(dir_name, full_path=False):
    return list_all(dir_name, os.path.isdir, full_path)


def find(root, name, full_path=False):
    path_name = os.path.join(root, name)
    return list_all(root, lambda x: x == path_name, full_path)


def mkdir(root, name=None):
    target = os.path.join(root, name) if name is not None else root
    try:
        os.makedirs(target, exist_ok=True)
    except OSError as e:
        if e.errno != errno.EEXIST or not os.path.isdir(target):
            raise e
    return target


def make_containing_dirs(path):
    dir_name = os.path.dirname(path)
    if not os.path.exists(dir_name):
        os.makedirs(dir_name)


def write_yaml(root, file_name, data, overwrite=False, sort_keys=True):
    if not exists(root):
        raise Exception(f"Parent directory '{root}' does not exist.")
    file_path = os.path.join(root, file_name)
    yaml_file_name = file_path if file_path.endswith(".yaml") else file_path + ".yaml"
    if exists(yaml_file_name) and not overwrite:
        raise Exception(f"Yaml file '{file_path}' exists as '{yaml_file_name}")
    with codecs.open(yaml_file_name, mode="w", encoding=ENCODING) as yaml_file:
        yaml.dump(data, yaml_file, default_flow_style=False, allow_unicode=True,
                  sort_keys=sort_keys, Dumper=YamlSafeDumper)


def overwrite_yaml(root, file_name, data):
    tmp_file_path = None
    original_file_path = os.path.join(root, file_name)
    original_file_mode = os.stat(original_file_path).st_mode
    try:
        tmp_file_fd, tmp_file_path = tempfile.mkstemp(suffix="file.yaml")
        os.close(tmp_file_fd)
        write_yaml(os.path.dirname(tmp_file_path), os.path.basename(tmp_file_path), data,
                   overwrite=True, sort_keys=True)
        shutil.move(tmp_file_path, original_file_path)
        os.chmod(original_file_path, original_file_mode)
    finally:
        if tmp_file_path is not None and os.path.exists(tmp_file_path):
            os.remove(tmp_file_path)


def read_yaml(root, file_name):
    if not exists(root):
        raise Exception(f"Cannot read '{file_name}'. Parent dir '{root}' does not exist.")
    file_path = os.path.join(root, file_name)
    if not exists(file_path):
        raise Exception(f"Yaml file '{file_path}' does not exist.")
    with codecs.open(file_path, mode="r", encoding=ENCODING) as yaml_file:
        return yaml.load(yaml_file, Loader=YamlSafeLoader)


def read_file(parent_path, file_name):
    with codecs.open(os.path.join(parent_path, file_name), mode="r", encoding=ENCODING) as f:
        return f.read()


def write_to(filename, data):
    with codecs.open(filename, mode="w", encoding=ENCODING) as handle:
        handle.write(data)


# Entities as dicts holding exactly the keys of dict(RegisteredModel) and
# dict(FileModelVersion) (sorted property names), tags included.
def registered_model(name, creation_timestamp, last_updated_timestamp, description=None,
                     latest_versions=None, tags=None, aliases=None):
    return {"aliases": dict(aliases or {}), "creation_timestamp": creation_timestamp,
            "description": description, "last_updated_timestamp": last_updated_timestamp,
            "latest_versions": latest_versions, "name": name, "tags": dict(tags or {})}


def model_version(name, version, creation_timestamp, last_updated_timestamp=None,
                  description=None, user_id=None, current_stage=None, source=None,
                  run_id=None, status="READY", status_message=None, tags=None,
                  run_link=None, aliases=None, storage_location=None):
    return {"aliases": list(aliases or []), "creation_timestamp": creation_timestamp,
            "current_stage": current_stage, "description": description,
            "last_updated_timestamp": last_updated_timestamp, "name": name,
            "run_id": run_id, "run_link": run_link, "source": source, "status": status,
            "status_message": status_message, "storage_location": storage_location,
            "tags": dict(tags or {}), "user_id": user_id, "version": version}


class FileStore:
    MODELS_FOLDER_NAME = "models"
    META_DATA_FILE_NAME = "meta.yaml"
    TAGS_FOLDER_NAME = "tags"
    CREATE_MODEL_VERSION_RETRIES = 3
    REGISTERED_MODELS_ALIASES_FOLDER_NAME = "aliases"

    def __init__(self, root_directory):
        self.root_directory = os.path.abspath(root_directory)
        if not exists(self.models_directory):
            mkdir(self.models_directory)

    @property
    def models_directory(self):
        return os.path.join(self.root_directory, FileStore.MODELS_FOLDER_NAME)

    def _check_root_dir(self):
        if not exists(self.root_directory):
            raise Exception(f"'{self.root_directory}' does not exist.")
        if not os.path.isdir(self.root_directory):
            raise Exception(f"'{self.root_directory}' is not a directory.")

    def _get_registered_model_path(self, name):
        self._check_root_dir()
        return os.path.join(self.root_directory, FileStore.MODELS_FOLDER_NAME, name)

    def _save_registered_model_as_meta_file(self, rm, meta_dir=None, overwrite=True):
        d = dict(rm)
        del d["tags"]
        del d["latest_versions"]
        meta_dir = meta_dir or self._get_registered_model_path(rm["name"])
        if overwrite:
            overwrite_yaml(meta_dir, FileStore.META_DATA_FILE_NAME, d)
        else:
            write_yaml(meta_dir, FileStore.META_DATA_FILE_NAME, d)

    def _update_registered_model_last_updated_time(self, name, updated_time):
        rm = self.get_registered_model(name)
        rm["last_updated_timestamp"] = updated_time
        self._save_registered_model_as_meta_file(rm)

    def create_registered_model(self, name, tags=None, description=None):
        self._check_root_dir()
        meta_dir = self._get_registered_model_path(name)
        if exists(meta_dir):
            raise Exception(f"Registered Model (name={name}) already exists.")
        mkdir(meta_dir)
        creation_time = get_current_time_millis()
        rm = registered_model(name, creation_time, creation_time, description, [], tags)
        self._save_registered_model_as_meta_file(rm, meta_dir=meta_dir, overwrite=False)
        for key, value in (tags or {}).items():
            self.set_registered_model_tag(name, key, value)
        return rm

    def _get_registered_model_from_path(self, model_path):
        meta = read_yaml(model_path, FileStore.META_DATA_FILE_NAME)
        rm = registered_model(
            meta["name"], meta["creation_timestamp"], meta["last_updated_timestamp"],
            meta["description"], None,
            self.get_all_registered_model_tags_from_path(model_path),
            self.get_all_registered_model_aliases_from_path(model_path))
        rm["latest_versions"] = self.get_latest_versions(os.path.basename(model_path))
        return rm

    def get_registered_model(self, name):
        model_path = self._get_registered_model_path(name)
        if not exists(model_path):
            raise Exception(f"Registered Model with name={name} not found")
        return self._get_registered_model_from_path(model_path)

    def get_latest_versions(self, name, stages=None):
        path = self._get_registered_model_path(name)
        if not exists(path):
            raise Exception(f"Registered Model with name={name} not found")
        mvs = self._list_file_model_versions_under_path(path)
        expected = {get_canonical_stage(s) for s in (stages or ALL_STAGES)}
        latest = {}
        for mv in mvs:
            stage = mv["current_stage"]
            if stage in expected and (stage not in latest
                                      or latest[stage]["version"] < mv["version"]):
                latest[stage] = to_mlflow_entity(mv)
        return [latest[s] for s in expected if s in latest]

    def _get_resource_files(self, root_dir, subfolder_name):
        source_dirs = find(root_dir, subfolder_name, full_path=True)
        if len(source_dirs) == 0:
            return root_dir, []
        file_names = []
        for root, _, files in os.walk(source_dirs[0]):
            for name in files:
                file_names.append(os.path.relpath(os.path.join(root, name), source_dirs[0]))
        return source_dirs[0], file_names

    def get_all_registered_model_tags_from_path(self, model_path):
        parent, files = self._get_resource_files(model_path, FileStore.TAGS_FOLDER_NAME)
        return {f: read_file(parent, f) for f in files}

    def get_all_registered_model_aliases_from_path(self, model_path):
        parent, files = self._get_resource_files(
            model_path, FileStore.REGISTERED_MODELS_ALIASES_FOLDER_NAME)
        return {f: read_file(parent, f) for f in files}

    def set_registered_model_tag(self, name, key, value):
        path = self._get_registered_model_path(name)
        if not exists(path):
            raise Exception(f"Registered Model with name={name} not found")
        tag_path = os.path.join(path, FileStore.TAGS_FOLDER_NAME, key)
        make_containing_dirs(tag_path)
        write_to(tag_path, value if isinstance(value, str) else f"{value}")
        self._update_registered_model_last_updated_time(name, get_current_time_millis())

    def _get_model_version_dir(self, name, version):
        path = self._get_registered_model_path(name)
        if not exists(path):
            raise Exception(f"Registered Model with name={name} not found")
        return os.path.join(path, f"version-{version}")

    def _get_model_version_aliases(self, directory):
        aliases = self.get_all_registered_model_aliases_from_path(os.path.dirname(directory))
        version = os.path.basename(directory).replace("version-", "")
        return [alias for alias, v in aliases.items() if v == version]

    def _get_file_model_version_from_dir(self, directory):
        meta = read_yaml(directory, FileStore.META_DATA_FILE_NAME)
        parent, files = self._get_resource_files(directory, FileStore.TAGS_FOLDER_NAME)
        meta["tags"] = {f: read_file(parent, f) for f in files}
        meta["aliases"] = self._get_model_version_aliases(directory)
        return model_version(**meta)

    def _save_model_version_as_meta_file(self, mv, meta_dir=None, overwrite=True):
        d = dict(mv)
        del d["tags"]
        meta_dir = meta_dir or self._get_model_version_dir(mv["name"], mv["version"])
        if overwrite:
            overwrite_yaml(meta_dir, FileStore.META_DATA_FILE_NAME, d)
        else:
            write_yaml(meta_dir, FileStore.META_DATA_FILE_NAME, d)

    def create_model_version(self, name, source, run_id=None, tags=None, run_link=None,
                             description=None):
        def next_version(registered_model_name):
            path = self._get_registered_model_path(registered_model_name)
            mvs = self._list_file_model_versions_under_path(path)
            return max(mv["version"] for mv in mvs) + 1 if mvs else 1

        storage_location = source  # no copy: the file store points at the source
        for attempt in range(self.CREATE_MODEL_VERSION_RETRIES):
            try:
                creation_time = get_current_time_millis()
                rm = self.get_registered_model(name)
                rm["last_updated_timestamp"] = creation_time
                self._save_registered_model_as_meta_file(rm)
                version = next_version(name)
                mv = model_version(name, version, creation_time, creation_time, description,
                                   current_stage=STAGE_NONE, source=source, run_id=run_id,
                                   run_link=run_link, tags=tags, aliases=[],
                                   storage_location=storage_location)
                mv_dir = self._get_model_version_dir(name, version)
                mkdir(mv_dir)
                self._save_model_version_as_meta_file(mv, meta_dir=mv_dir, overwrite=False)
                self._save_registered_model_as_meta_file(rm)
                for key, value in (tags or {}).items():
                    self.set_model_version_tag(name, version, key, value)
                return to_mlflow_entity(mv)
            except Exception:
                if attempt == self.CREATE_MODEL_VERSION_RETRIES - 1:
                    raise

    def transition_model_version_stage(self, name, version, stage, archive_existing_versions):
        if archive_existing_versions and \
                get_canonical_stage(stage) not in DEFAULT_STAGES_FOR_GET_LATEST_VERSIONS:
            raise Exception(f"cannot archive existing versions: '{stage}' is not active")
        last_updated_time = get_current_time_millis()
        if archive_existing_versions:
            path = self._get_registered_model_path(name)
            for mv in self._list_file_model_versions_under_path(path):
                if mv["version"] != version and mv["current_stage"] == get_canonical_stage(stage):
                    mv["current_stage"] = STAGE_ARCHIVED
                    mv["last_updated_timestamp"] = last_updated_time
                    self._save_model_version_as_meta_file(mv)
        mv = self._fetch_file_model_version_if_exists(name, version)
        mv["current_stage"] = get_canonical_stage(stage)
        mv["last_updated_timestamp"] = last_updated_time
        self._save_model_version_as_meta_file(mv)
        self._update_registered_model_last_updated_time(name, last_updated_time)
        return to_mlflow_entity(mv)

    def _fetch_file_model_version_if_exists(self, name, version):
        mv_dir = self._get_model_version_dir(name, version)
        if not exists(mv_dir):
            raise Exception(f"Model Version (name={name}, version={version}) not found")
        mv = self._get_file_model_version_from_dir(mv_dir)
        if mv["current_stage"] == STAGE_DELETED_INTERNAL:
            raise Exception(f"Model Version (name={name}, version={version}) not found")
        return mv

    def _get_all_registered_model_paths(self):
        self._check_root_dir()
        return list_subdirs(os.path.join(self.root_directory, FileStore.MODELS_FOLDER_NAME),
                            full_path=True)

    def _list_file_model_versions_under_path(self, path):
        dirs = list_all(path, filter_func=lambda x: os.path.isdir(x) and os.path.basename(
            os.path.normpath(x)).startswith("version-"), full_path=True)
        return [self._get_file_model_version_from_dir(d) for d in dirs]

    def search_model_versions(self, filter_string=None, max_results=200000, order_by=None):
        mvs = []
        for path in self._get_all_registered_model_paths():
            mvs.extend(to_mlflow_entity(mv) for mv in self._list_file_model_versions_under_path(path))
        # filter_string None keeps every version; default order
        # ["last_updated_timestamp DESC", "name ASC", "version_number DESC"]
        mvs.sort(key=lambda mv: (-mv["last_updated_timestamp"], mv["name"], -int(mv["version"])))
        return mvs[:max_results]

    def set_model_version_tag(self, name, version, key, value):
        self._fetch_file_model_version_if_exists(name, version)
        tag_path = os.path.join(self._get_model_version_dir(name, version),
                                FileStore.TAGS_FOLDER_NAME, key)
        make_containing_dirs(tag_path)
        write_to(tag_path, value if isinstance(value, str) else f"{value}")
        self._update_registered_model_last_updated_time(name, get_current_time_millis())

    def set_registered_model_alias(self, name, alias, version):
        path = self._get_registered_model_path(name)
        if not exists(path):
            raise Exception(f"Registered Model with name={name} not found")
        alias_path = os.path.join(path, FileStore.REGISTERED_MODELS_ALIASES_FOLDER_NAME, alias)
        self._fetch_file_model_version_if_exists(name, version)
        make_containing_dirs(alias_path)
        write_to(alias_path, version if isinstance(version, str) else f"{version}")
        self._update_registered_model_last_updated_time(name, get_current_time_millis())


def to_mlflow_entity(mv):
    # FileModelVersion.to_mlflow_entity(): a ModelVersion without storage_location
    d = dict(mv)
    del d["storage_location"]
    return d


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: registry_mlflow.py DIR VERSIONS MOVES")
    root, versions, moves = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    alias_moves = int(os.environ.get("ALIAS_MOVES", moves))
    stage_moves = min(moves, 1000)
    if versions < 2:
        sys.exit("registry_mlflow.py: VERSIONS must be at least 2")
    os.makedirs(root, exist_ok=True)
    # A run whose model directory the versions point at, as mlflow.register_model
    # passes runs:/<id>/model resolved to the artifact path (no copy).
    run_id = uuid.uuid4().hex
    source = os.path.join(os.path.abspath(root), "mlruns", "0", run_id, "artifacts", "model")
    os.makedirs(source)
    with open(os.path.join(source, "MLmodel"), "w") as f:
        f.write("flavors: {}\n")
    store = FileStore(root)
    name = "m"
    store.create_registered_model(name, tags={"team": "bench"})

    t0 = time.perf_counter()
    for i in range(versions):
        mv = store.create_model_version(name, source, run_id=run_id)
        assert mv["version"] == i + 1
    register = time.perf_counter() - t0
    print(f"register_ms {register / versions * 1000:.3f}", flush=True)

    t0 = time.perf_counter()
    for i in range(alias_moves):
        store.set_registered_model_alias(name, "Production", 1 + (i & 1))
    alias = time.perf_counter() - t0
    print(f"alias_move_us {alias / alias_moves * 1e6:.1f}", flush=True)

    t0 = time.perf_counter()
    for i in range(stage_moves):
        store.transition_model_version_stage(name, 1 + (i & 1), STAGE_PRODUCTION, True)
    stage = time.perf_counter() - t0
    print(f"stage_move_us {stage / stage_moves * 1e6:.1f}", flush=True)

    best = None
    for _ in range(5):
        t0 = time.perf_counter()
        mvs = store.search_model_versions()
        t = time.perf_counter() - t0
        best = t if best is None else min(best, t)
    assert len(mvs) == versions
    print(f"list_versions_ms {best * 1000:.3f}", flush=True)
    # MLflow's nearest equivalent of mlfs's history.csv: none.  The file store
    # keeps no alias (or stage) history; set_registered_model_alias overwrites
    # aliases/<alias> and transition_model_version_stage overwrites
    # current_stage, so there is no history to read or time.
    print(f"moves_timed alias {alias_moves} stage {stage_moves}")


if __name__ == "__main__":
    main()
