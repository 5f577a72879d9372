"""Point reads that keep the interpreter lock: SQLite's own C API, called through ctypes.

CPython's sqlite3 module lets go of the interpreter lock around every call into SQLite:
about five times per statement, twice per row and once per column. With several
request threads busy, each let-go hands the lock to another thread, and a read of one
row by its key pays for a handful of thread switches that cost more than the read.
Through `ctypes.PyDLL` the same calls keep the lock: a read by a unique key takes a few
microseconds, less than one handover.

The functions are looked up through the sqlite3 module's own extension, so they are the
very SQLite library the rest of the process uses: one library in a process keeps the
file locks of all its connections consistent (two copies would undo each other's
POSIX locks). Each thread keeps one read-only connection with no busy timeout. When it
cannot answer (functions not found, an in-memory database, a busy database, an error, a
parameter it does not bind), it says None and the caller reads the regular way. The
price: a read that has to go to the disk holds the lock meanwhile.
"""

import ctypes
import functools
import threading

try:
    import _sqlite3
except ImportError:  # pragma: no cover - Python built without sqlite3
    _sqlite3 = None

SQLITE_ROW, SQLITE_DONE = 100, 101
SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT, SQLITE_NULL = 1, 2, 3, 5
SQLITE_OPEN_READONLY, SQLITE_OPEN_NOMUTEX = 0x01, 0x8000
SQLITE_PREPARE_PERSISTENT = 0x01
TRANSIENT = ctypes.c_void_p(-1)  # SQLite copies the bound text
INT64 = range(-(2**63), 2**63)
MAX_STATEMENTS = 32  # prepared statements kept per connection


def _bind(library):
    """The C functions used, typed, or None when the library does not export them."""
    p, i, text = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p
    signatures = {
        "sqlite3_open_v2": (i, [text, ctypes.POINTER(p), i, text]),
        "sqlite3_close_v2": (i, [p]),
        "sqlite3_prepare_v3": (i, [p, text, i, ctypes.c_uint, ctypes.POINTER(p), p]),
        "sqlite3_finalize": (i, [p]),
        "sqlite3_bind_text": (i, [p, i, text, i, p]),
        "sqlite3_bind_int64": (i, [p, i, ctypes.c_int64]),
        "sqlite3_step": (i, [p]),
        "sqlite3_reset": (i, [p]),
        "sqlite3_column_count": (i, [p]),
        "sqlite3_column_type": (i, [p, i]),
        "sqlite3_column_int64": (ctypes.c_int64, [p, i]),
        "sqlite3_column_double": (ctypes.c_double, [p, i]),
        "sqlite3_column_blob": (p, [p, i]),
        "sqlite3_column_bytes": (i, [p, i]),
    }
    functions = {}
    try:
        for name, (restype, argtypes) in signatures.items():
            function = getattr(library, name)
            function.restype, function.argtypes = restype, argtypes
            functions[name[len("sqlite3_"):]] = function
    except AttributeError:  # SQLite linked into the module with its symbols hidden
        return None
    return functions


@functools.cache
def functions():
    """SQLite's functions, typed, from the library the sqlite3 module uses (loaded on
    first use), or None where they cannot be found."""
    if _sqlite3 is None:
        return None
    try:
        return _bind(ctypes.PyDLL(_sqlite3.__file__))  # PyDLL: calls keep the lock
    except OSError:
        return None


class _Reader:
    """One thread's read-only connection to one database file, and its statements."""

    def __init__(self, path):
        self.path = path
        self.generation = _generation
        self.handle = ctypes.c_void_p()
        self.statements = {}  # sql: (statement pointer, range of its columns)
        flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX
        if functions()["open_v2"](path.encode(), ctypes.byref(self.handle), flags, None):
            self.close()
            raise OSError(f"cannot open {path} for reading")

    def statement(self, sql):
        found = self.statements.get(sql)
        if found is None:
            if len(self.statements) >= MAX_STATEMENTS:
                self._finalize()
            api, pointer = functions(), ctypes.c_void_p()
            if api["prepare_v3"](self.handle, sql.encode(), -1, SQLITE_PREPARE_PERSISTENT,
                               ctypes.byref(pointer), None) or not pointer:
                return None
            found = self.statements[sql] = (pointer.value, range(api["column_count"](pointer)))
        return found

    def _finalize(self):
        for pointer, _columns in self.statements.values():
            functions()["finalize"](pointer)
        self.statements.clear()

    def close(self):
        self._finalize()
        if self.handle:
            functions()["close_v2"](self.handle)
            self.handle = ctypes.c_void_p()

    def __del__(self):  # the thread that owned it has ended
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutting down
            pass


_local = threading.local()
_generation = 0  # bumped by forget(): every thread's reader is then opened anew


def forget():
    """Have every thread open its reader anew, as the pool does when the app is bound to
    its database again (the file may have been replaced)."""
    global _generation
    _generation += 1


def _reader(path):
    """This thread's reader for `path`, closing its reader of another file (or of an
    earlier generation)."""
    reader = getattr(_local, "reader", None)
    if reader is None or reader.path != path or reader.generation != _generation:
        if reader is not None:
            reader.close()
        _local.reader = None
        _local.reader = reader = _Reader(path)
    return reader


def rows(path, sql, params, most=None):
    """The rows of one SELECT on the database file `path` (the first `most`, if given),
    as lists, or None when it should be read the regular way. Meant for reads by a key:
    the lock is held until the last row is read."""
    api = functions()
    if api is None or path == ":memory:" or path.startswith("file:"):
        return None
    try:
        reader = _reader(path)
    except OSError:
        return None
    found = reader.statement(sql)
    if found is None:
        return None
    statement, columns = found
    bind_text, bind_int64 = api["bind_text"], api["bind_int64"]
    try:
        for index, value in enumerate(params, 1):
            if isinstance(value, str):
                encoded = value.encode()
                status = bind_text(statement, index, encoded, len(encoded), TRANSIENT)
            elif isinstance(value, int) and value in INT64:
                status = bind_int64(statement, index, value)
            else:
                return None
            if status:
                return None
        return _read(api, statement, columns, most)
    except UnicodeError:  # a lone surrogate in a parameter, or bad UTF-8 stored
        return None
    finally:
        api["reset"](statement)


def _read(api, statement, columns, most):
    """Step through the statement's rows, up to `most`; None if it ends in an error."""
    step, column_type = api["step"], api["column_type"]
    blob, size = api["column_blob"], api["column_bytes"]
    read = []
    while len(read) != most and (status := step(statement)) == SQLITE_ROW:
        row = []
        for index in columns:
            kind = column_type(statement, index)
            if kind == SQLITE_INTEGER:
                row.append(api["column_int64"](statement, index))
            elif kind == SQLITE_FLOAT:
                row.append(api["column_double"](statement, index))
            elif kind == SQLITE_NULL:
                row.append(None)
            else:  # TEXT or BLOB: the bytes first, then their count (SQLite's order)
                pointer = blob(statement, index)
                data = ctypes.string_at(pointer, size(statement, index)) if pointer else b""
                row.append(data.decode() if kind == SQLITE_TEXT else data)
        read.append(row)
    return read if len(read) == most or status == SQLITE_DONE else None
