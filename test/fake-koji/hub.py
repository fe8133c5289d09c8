#!/usr/bin/env python3
"""Fake Koji hub for darkforge's tests: XML-RPC hub + package file server on one 127.0.0.1 port.

Standard library only.  Usage: python3 hub.py CONFIG.json  (see README.md beside this file).
Prints "PORT <n>" on its first stdout line once listening; exits on SIGTERM/SIGINT or when
its parent process goes away.
"""
import copy
import datetime
import fnmatch
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
import xmlrpc.client
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

CHUNK = 64 * 1024
GENERIC_ERROR = 1000  # koji.GenericError.faultCode
SERVER_OFFLINE = 1014  # koji.ServerOffline.faultCode
PARAMETER_ERROR = 1019  # koji.ParameterError.faultCode
BUILD_INTERNAL = ('rpms', 'file', 'state_sequence', 'appear_after_s', 'hidden', 'commit_delay_s')
DEFAULT_FAULTS = {
    'rpc_503': 0, 'file_503': 0, 'drop_file': 0, 'drop_rpc': 0, 'ignore_range': False,
    'corrupt': [], 'fail_forever': [], 'slow_file_ms': 0,
    # network faults (see README.md)
    'close_file': 0, 'cut_in_payload': False, 'no_content_length': False,
    'stall_file': 0, 'stall_rpc': 0, 'stall_ms': 30000,
    'rpc_garbage': 0, 'rpc_html': 0, 'rpc_fault': 0, 'close_rpc': 0,
    # error answers of every shape (see README.md)
    'rpc_error': None, 'file_error': None, 'outage': None, 'rpc_offline': 0, 'multicall_offline': 0,
    # a hub far away: every XML-RPC POST and every file GET/HEAD waits this long before answering
    'latency_ms': 0,
    # build ids whose getBuild and listRPMs answer an XML-RPC fault (inside a multicall: that call's fault)
    'fault_builds': [],
}
ERROR_TYPES = (None, 'text/plain', 'text/html', 'application/xml')
ERROR_BODIES = ('empty', 'short', 'big', 'chunked', 'cut', 'close', 'reset')
BIG = 1024 * 1024
GARBAGE_XML = b"<?xml version='1.0'?>\n<methodResponse><params><param><value><struct><member><name>id</nam"
HTML_PAGE = (b'<!DOCTYPE html>\n<html><head><title>Koji is down for maintenance</title></head>\n'
             b'<body><h1>Maintenance</h1><p>Back soon.</p></body></html>\n')
TIME_STR = '2024-01-02 03:04:05.000000+00:00'
TIME_TS = 1704164645.0
# listBuilds' queryOpts order: the aliases a real hub sorts by (kojihub listBuilds' fields)
LIST_BUILDS_ORDER = ('build_id', 'completion_time', 'completion_ts', 'creation_event_id', 'creation_time', 'creation_ts',
                     'epoch', 'name', 'nvr', 'package_id', 'package_name', 'release', 'start_time', 'start_ts', 'state',
                     'task_id', 'version', 'volume_id', 'volume_name', 'owner_id', 'owner_name')


def time_str(ts):
    """A timestamp as the hub marshals a timestamptz column: isoformat(' ') in UTC."""
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).isoformat(' ')


def parse_time(value, name):
    """listBuilds' time filters: seconds since the epoch, or a string PostgreSQL reads (naive = UTC here)."""
    if isinstance(value, bool):
        raise fault('Invalid type for %s: %r' % (name, value))
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            d = datetime.datetime.fromisoformat(value.strip().replace('Z', '+00:00'))
        except ValueError:
            raise fault('invalid input syntax for type timestamp with time zone: "%s"' % value)
        if d.tzinfo is None:
            d = d.replace(tzinfo=datetime.timezone.utc)
        return d.timestamp()
    raise fault('Invalid type for %s: %s' % (name, type(value).__name__))


# ---- XML-RPC marshalling with the i8 extension (as koji/xmlrpcplus.py does) ----

class ExtendedMarshaller(xmlrpc.client.Marshaller):
    dispatch = xmlrpc.client.Marshaller.dispatch.copy()

    def dump_int(self, value, write):
        if value > 2 ** 63 - 1 or value < -2 ** 63:
            raise OverflowError('int exceeds XML-RPC limits')
        tag = 'int' if xmlrpc.client.MININT <= value <= xmlrpc.client.MAXINT else 'i8'
        write('<value><%s>%d</%s></value>\n' % (tag, value, tag))

    dispatch[int] = dump_int


def dump_response(value):
    """value: a Fault, or the single result."""
    m = ExtendedMarshaller('utf-8', allow_none=True)
    body = m.dumps(value if isinstance(value, xmlrpc.client.Fault) else (value,))
    return ("<?xml version='1.0'?>\n<methodResponse>\n" + body + '</methodResponse>\n').encode('utf-8')


def fault(msg, code=GENERIC_ERROR):
    return xmlrpc.client.Fault(code, msg)


def decode_args(params):
    """koji.decode_args: a trailing dict holding __starstar=True carries the keyword arguments."""
    args = list(params)
    if args and isinstance(args[-1], dict) and args[-1].get('__starstar'):
        kw = dict(args.pop())
        del kw['__starstar']
        return args, kw
    return args, {}


def parse_nvr(s):
    """koji.parse_NVR, with its optional "E:" prefix."""
    epoch = None
    if ':' in s:
        e, s = s.split(':', 1)
        epoch = e or None
    parts = s.rsplit('-', 2)
    if len(parts) != 3 or not all(parts):
        raise fault('invalid format: %s' % s)
    return {'name': parts[0], 'version': parts[1], 'release': parts[2], 'epoch': epoch}


def parse_nvra(s):
    if s.endswith('.rpm'):
        s = s[:-4]
    head, dot, arch = s.rpartition('.')
    if not dot or not head or not arch:
        raise fault('invalid format: %s' % s)
    d = parse_nvr(head)
    d['arch'] = arch
    return d


def error_body(status, ctype, shape, path):
    """The body of an injected error answer, as real servers write them (Apache, S3, koji's error_reply)."""
    reason = BaseHTTPRequestHandler.responses.get(status, ('Error',))[0]
    if shape == 'empty':
        return b''
    big = shape == 'big'
    filler = 'All work and no play makes Jack a dull boy. ' * (BIG // 44 + 1)
    if ctype == 'text/html':
        # Apache's own page: the title and heading only repeat the status; the paragraph says more.
        head = ('<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head>\n<title>%d %s</title>\n</head><body>\n'
                '<h1>%s</h1>\n<p>fake-koji: injected %d for %s, come back later.</p>\n' % (status, reason, reason, status, path))
        if big:
            head = '<html><head><title>fake-koji: a big %d page</title></head><body>\n' % status
        text = head + ('<p>%s</p>\n' % filler if big else '') + '</body></html>\n'
    elif ctype == 'application/xml':
        text = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>fake-koji: injected %d &amp; more for %s</Message>'
                '%s</Error>\n' % (reason.replace(' ', ''), status, path, '<Padding>%s</Padding>' % filler if big else ''))
    else:
        # text/plain, and the same without a content type
        text = 'fake-koji: injected %d for %s\nsecond line\n%s' % (status, path, filler if big else '')
    return text.encode('utf-8')[:BIG + 4096]


def payload_offset(path):
    """Offset of the payload in an RPM file (lead, padded signature header, main header); None if unreadable."""
    try:
        with open(path, 'rb') as f:
            pos = 96
            for pad in (True, False):
                f.seek(pos)
                intro = f.read(16)
                if len(intro) != 16 or intro[:3] != b'\x8e\xad\xe8':
                    return None
                n, size = struct.unpack('>II', intro[8:16])
                pos += 16 + 16 * n + size
                if pad:
                    pos = (pos + 7) & ~7
            return pos
    except OSError:
        return None


def payload_mid(path, size):
    """The file offset in the middle of the payload (of the whole file if the RPM is unreadable)."""
    off = payload_offset(path)
    if off is None or off >= size:
        off = 0
    return off + (size - off) // 2


# ---- state ----

class State:
    def __init__(self, cfg):
        self.lock = threading.Lock()
        self.log_path = cfg['log']
        self.hub_path = '/' + cfg.get('hub_path', '/kojihub').strip('/')
        self.files_path = '/' + cfg.get('files_path', '/kojifiles').strip('/')
        if self.files_path == '/':
            self.files_path = ''
        self.faults = dict(DEFAULT_FAULTS)
        self.faults.update(cfg.get('faults') or {})
        self.builds = []  # build dicts as configured (normalised)
        self.by_id = {}
        self.by_nvr = {}
        self.rpms = []  # (rpm dict, build dict)
        self.rpm_by_id = {}
        self.rpm_by_nvra = {}
        self.files = {}  # url path -> (rpm, build)
        self.seq_pos = {}  # build id -> getBuild answers given so far
        self.fixed_state = {}  # build id -> state set through /_control
        self.corrupt_at = {}  # file path -> offset to flip
        # other documents on the same server (kickstarts, comps): url path -> file; error faults apply
        self.extra_files = dict(cfg.get('extra_files') or {})
        for b in cfg.get('builds') or []:
            self._add_build(b)
        # Koji events (id -> ts). Configured builds carry event 1000 + id at TIME_TS unless they
        # appear later; the hub's own last event is at its start.
        self.start = time.time()
        self.events = {}
        for b in self.builds:
            if not self._pending(b):
                self.events[b['creation_event_id']] = TIME_TS
        self.last_event = max(list(self.events) + [1000]) + 1
        self.events[self.last_event] = self.start
        self.appear_queue = []  # (commit time, appear time, build) of builds not visible yet
        for b in self.builds:
            if b.get('appear_after_s') is not None and not b.get('hidden'):
                t = self.start + float(b['appear_after_s'])
                self.appear_queue.append((t + float(b.get('commit_delay_s') or 0), t, b))
        self.appear_queue.sort(key=lambda x: (x[0], x[1], x[2]['id']))

    def _add_build(self, b):
        b = dict(b)
        b.setdefault('package_name', b.get('name'))
        b.setdefault('name', b['package_name'])
        b.setdefault('epoch', None)
        b.setdefault('nvr', '%s-%s-%s' % (b['name'], b['version'], b['release']))
        b.setdefault('state', 1)
        b.setdefault('volume_name', 'DEFAULT')
        b.setdefault('package_id', b['id'])
        b.setdefault('task_id', None)
        b.setdefault('creation_event_id', 1000 + b['id'])
        b['_visible'] = not self._pending(b)
        b['_created'] = TIME_TS
        b['_completed'] = TIME_TS + 60
        b['rpms'] = [dict(r) for r in b.get('rpms') or []]
        self.builds.append(b)
        self.by_id[b['id']] = b
        self.by_nvr.setdefault(b['nvr'], b)
        for r in b['rpms']:
            r.setdefault('build_id', b['id'])
            r.setdefault('epoch', b['epoch'])
            r.setdefault('nvr', '%s-%s-%s' % (r['name'], r['version'], r['release']))
            if 'size' not in r and r.get('file'):
                r['size'] = os.path.getsize(r['file'])
            nvra = '%s.%s' % (r['nvr'], r['arch'])
            self.rpms.append((r, b))
            self.rpm_by_id.setdefault(r['id'], (r, b))
            self.rpm_by_nvra.setdefault(nvra, (r, b))
            rel = 'packages/%s/%s/%s/%s/%s.rpm' % (b['package_name'], b['version'], b['release'], r['arch'], nvra)
            paths = [rel]
            if b['volume_name'] != 'DEFAULT':  # koji links other volumes' builds into the default one
                paths.append('vol/%s/%s' % (b['volume_name'], rel))
            for p in paths:
                url = '%s/%s' % (self.files_path, p)
                if url in self.files:
                    print('fake-koji: warning: %s served twice; the first wins' % url, file=sys.stderr, flush=True)
                else:
                    self.files[url] = (r, b)

    # -- builds that appear over time --

    @staticmethod
    def _pending(b):
        return bool(b.get('hidden')) or b.get('appear_after_s') is not None

    def _new_event(self, ts):
        self.last_event += 1
        self.events[self.last_event] = ts
        return self.last_event

    def _show(self, b, ts):
        """Make a build visible, created (and, unless BUILDING, completed) at ts, with a new event."""
        b['_visible'] = True
        b['creation_event_id'] = self._new_event(ts)
        b['_created'] = ts
        b['_completed'] = ts

    def refresh(self):
        """Builds whose time has come become visible (called before every request is answered)."""
        now = time.time()
        with self.lock:
            while self.appear_queue and self.appear_queue[0][0] <= now:
                _commit, t, b = self.appear_queue.pop(0)
                if not b['_visible']:
                    self._show(b, t)

    def visible(self, b):
        return b is not None and b['_visible']

    # -- faults --

    def take(self, name):
        """Consume one unit of a counting fault; True if it applies to this request."""
        with self.lock:
            n = int(self.faults.get(name) or 0)
            if n > 0:
                self.faults[name] = n - 1
                return True
            return False

    def take_error(self, name, path=''):
        """Consume one unit of an error-shape fault ({count, status, type, body, retry_after, path?}, or
        a list of such shapes without count, each answered once, in order); its spec, or None. A
        shape with `path` answers only requests whose path contains it."""
        with self.lock:
            spec = self.faults.get(name)
            if isinstance(spec, list):
                if not spec or spec[0].get('path', '') not in path:
                    return None
                return dict(spec.pop(0))
            if not isinstance(spec, dict) or int(spec.get('count') or 0) <= 0 or spec.get('path', '') not in path:
                return None
            spec['count'] = int(spec['count']) - 1
            return dict(spec)

    def outage_now(self, scope):
        """The outage spec if one covers `scope` ('hub' or 'files') right now."""
        with self.lock:
            o = self.faults.get('outage')
            if not isinstance(o, dict) or time.time() >= float(o.get('until') or 0):
                return None
            if o.get('scope', 'both') not in (scope, 'both'):
                return None
            return dict(o)

    def latency(self):
        """latency_ms: the wait before every hub and file answer."""
        with self.lock:
            ms = float(self.faults.get('latency_ms') or 0)
        if ms > 0:
            time.sleep(ms / 1000.0)

    def fault_list(self, name):
        with self.lock:
            return {x[:-4] if x.endswith('.rpm') else x for x in self.faults.get(name) or []}

    def control(self, body):
        self.refresh()
        with self.lock:
            for k, v in (body.get('faults') or {}).items():
                if k == 'outage' and isinstance(v, dict) and 'seconds' in v:
                    v = dict(v)
                    v['until'] = time.time() + float(v.pop('seconds'))
                self.faults[k] = v
            now = time.time()
            # appear: visible now; appear_late {id: s}: visible now, but stamped s seconds ago (a
            # transaction that started then and committed only now, as Koji stamps its builds).
            late = {int(k): float(v) for k, v in (body.get('appear_late') or {}).items()}
            for k in list(body.get('appear') or []) + list(late):
                b = self.by_id.get(int(k))
                if b is None:
                    raise ValueError('no build %s in the configuration' % k)
                if not b['_visible']:
                    self._show(b, now - late.get(int(k), 0.0))
            for k, v in (body.get('build_state') or {}).items():
                b = self.by_id.get(int(k))
                before = self._state_now(b) if b else None
                self.fixed_state[int(k)] = int(v)
                if b is not None and b['_visible'] and before != int(v):
                    # A state change is an event; a build that stops BUILDING completes now, one
                    # that starts again (a recycled build) has no completion time.
                    ev_ts = now
                    self._new_event(ev_ts)
                    if int(v) != 0 and before == 0:
                        b['_completed'] = ev_ts

    def snapshot(self):
        with self.lock:
            return {
                'faults': copy.deepcopy(self.faults),
                'build_state': {str(b['id']): self._state_now(b) for b in self.builds},
                'getBuild_calls': {str(k): v for k, v in self.seq_pos.items()},
                'visible': [b['id'] for b in self.builds if b['_visible']],
                'last_event': {'id': self.last_event, 'ts': self.events[self.last_event]},
            }

    def _state_now(self, b):
        if b['id'] in self.fixed_state:
            return self.fixed_state[b['id']]
        seq = b.get('state_sequence')
        if seq:
            return seq[min(self.seq_pos.get(b['id'], 0), len(seq) - 1)]
        return b['state']

    def log(self, line):
        data = json.dumps(line) + '\n'
        with self.lock:
            with open(self.log_path, 'a', encoding='utf-8') as f:
                f.write(data)


# ---- hub API ----

class Hub:
    def __init__(self, state):
        self.s = state
        self.tls = threading.local()  # per request thread: inner calls answered ServerOffline

    def find_build(self, info):
        b = self._find_build(info)
        return b if self.s.visible(b) else None

    def _find_build(self, info):
        s = self.s
        if isinstance(info, bool):
            raise fault('Invalid build info: %r' % (info,))
        if isinstance(info, int):
            return s.by_id.get(info)
        if isinstance(info, str):
            data = parse_nvr(info)
        elif isinstance(info, dict):
            data = info
        else:
            raise fault('Invalid build info: %r' % (info,))
        if not all(k in data for k in ('name', 'version', 'release')):
            raise fault('did not provide name, version, and release')
        return s.by_nvr.get('%s-%s-%s' % (data['name'], data['version'], data['release']))

    def build_map(self, b, advance):
        s = self.s
        with s.lock:
            state = s._state_now(b)
            if advance:
                s.seq_pos[b['id']] = s.seq_pos.get(b['id'], 0) + 1
        m = {
            'build_id': b['id'], 'owner_id': 1, 'owner_name': 'fake',
            'volume_id': 0 if b['volume_name'] == 'DEFAULT' else 1,
            'creation_time': time_str(b['_created']), 'creation_ts': b['_created'],
            'start_time': time_str(b['_created']), 'start_ts': b['_created'],
            'completion_time': time_str(b['_completed']), 'completion_ts': b['_completed'],
            'source': None, 'extra': None, 'cg_id': None, 'cg_name': None, 'draft': False,
        }
        m.update({k: v for k, v in b.items() if k not in BUILD_INTERNAL and not k.startswith('_')})
        m['state'] = state
        if state == 0:  # a build still running has no completion time on a real hub
            m['completion_time'] = m['completion_ts'] = None
        return m

    @staticmethod
    def rpm_map(r):
        m = {
            'buildtime': int(TIME_TS), 'buildroot_id': None, 'external_repo_id': 0,
            'external_repo_name': 'INTERNAL', 'metadata_only': False, 'extra': None, 'draft': False,
        }
        m.update({k: v for k, v in r.items() if k != 'file'})
        return m

    def getAPIVersion(self):
        return 1

    def faulty(self, build_id):
        with self.s.lock:
            ids = set(self.s.faults.get('fault_builds') or [])
        if build_id in ids:
            raise fault('injected fault for build %s' % build_id)

    def getBuild(self, buildInfo, strict=False):
        b = self.find_build(buildInfo)
        if b is not None:
            self.faulty(b['id'])
        if b is None:
            if strict:
                raise fault('No such build: %r' % (buildInfo,))
            return None
        return self.build_map(b, advance=True)

    def listRPMs(self, buildID=None, buildrootID=None, imageID=None, componentBuildrootID=None,
                 hostID=None, arches=None, queryOpts=None, draft=None):
        if buildID is not None:
            self.faulty(buildID)
        if isinstance(arches, str):
            arches = [arches]
        elif arches is not None and not isinstance(arches, (list, tuple)):
            raise fault('Invalid type for arches parameter: %s' % type(arches).__name__)
        out = []
        for r, b in self.s.rpms:
            if not self.s.visible(b):
                continue
            if buildID is not None and b['id'] != buildID:
                continue
            if arches and r['arch'] not in arches:
                continue
            out.append(self.rpm_map(r))
        if queryOpts and queryOpts.get('countOnly'):
            return len(out)
        return out

    def listBuilds(self, packageID=None, userID=None, taskID=None, prefix=None, state=None, volumeID=None, source=None,
                   createdBefore=None, createdAfter=None, completeBefore=None, completeAfter=None, type=None, typeInfo=None,
                   queryOpts=None, pattern=None, cgID=None, draft=None):
        """kojihub listBuilds: maps with build_id (no id); time filters strict (< and >) on creation
        and completion time, a build without completion time matching no complete* filter; queryOpts
        order (aliases, comma-separated, "-" for descending), offset, limit, countOnly."""
        bounds = [(createdBefore, 'createdBefore', 'c', lambda t, x: t < x), (createdAfter, 'createdAfter', 'c', lambda t, x: t > x),
                  (completeBefore, 'completeBefore', 'e', lambda t, x: t < x), (completeAfter, 'completeAfter', 'e', lambda t, x: t > x)]
        tests = [(parse_time(v, n), which, op) for v, n, which, op in bounds if v]  # koji ignores falsy values
        if queryOpts is not None and not isinstance(queryOpts, dict):
            raise fault('Invalid type for queryOpts: %s' % type(queryOpts).__name__)
        opts = queryOpts or {}
        out = []
        for b in self.s.builds:
            if not self.s.visible(b):
                continue
            m = self.build_map(b, advance=False)
            if packageID is not None and packageID not in (b['package_id'], b['package_name']):
                continue
            if taskID is not None and (b['task_id'] is None if taskID == -1 else b['task_id'] != taskID):
                continue
            if prefix and not b['package_name'].lower().startswith(prefix.lower()):
                continue
            if pattern and not fnmatch.fnmatchcase(m['nvr'].lower(), pattern.lower()):
                continue
            if state is not None and m['state'] != state:
                continue
            keep = True
            for x, which, op in tests:
                t = m['creation_ts'] if which == 'c' else m['completion_ts']
                if t is None or not op(t, x):
                    keep = False
            if not keep:
                continue
            del m['id']
            out.append(m)
        order = opts.get('order')
        if order:
            for key in reversed(order.split(',')):
                desc = key.startswith('-')
                key = key[1:] if desc else key
                if key not in LIST_BUILDS_ORDER:
                    raise fault('Exception: Invalid order: %s' % key)
                # NULLs sort last ascending, as PostgreSQL does
                out.sort(key=lambda m: (m[key] is None, m[key] if m[key] is not None else 0), reverse=desc)
        if opts.get('countOnly'):
            return len(out)
        offset = int(opts.get('offset') or 0)
        limit = opts.get('limit')
        out = out[offset:]
        if limit:
            out = out[:int(limit)]
        return out

    def getLastEvent(self, before=None):
        """kojihub getLastEvent: {id, ts} of the newest event, or of the newest one before `before`."""
        if before is not None and (isinstance(before, bool) or not isinstance(before, (int, float))):
            raise fault('Invalid type for before: %s' % type(before))
        with self.s.lock:
            events = [(i, t) for i, t in self.s.events.items() if before is None or t < before]
        if not events:
            raise fault('query returned no rows')
        i, t = max(events)
        return {'id': i, 'ts': t}

    def getEvent(self, id):
        if isinstance(id, bool) or not isinstance(id, int):
            raise fault('Invalid type for id: %s' % type(id).__name__)
        with self.s.lock:
            t = self.s.events.get(id)
        if t is None:
            raise fault('query returned no rows')
        return {'id': id, 'ts': t}

    def listBuildRPMs(self, build):
        b = self.find_build(build)
        if b is None:
            raise fault('No such build: %r' % (build,))
        return [self.rpm_map(r) for r in b['rpms']]

    def getRPM(self, rpminfo, strict=False, multibuild=False):
        if isinstance(rpminfo, bool):
            raise fault('Invalid type for rpminfo: %r' % (rpminfo,))
        if isinstance(rpminfo, int):
            hit = self.s.rpm_by_id.get(rpminfo)
        elif isinstance(rpminfo, str):
            d = parse_nvra(rpminfo)
            hit = self.s.rpm_by_nvra.get('%s-%s-%s.%s' % (d['name'], d['version'], d['release'], d['arch']))
        elif isinstance(rpminfo, dict):
            if 'id' in rpminfo:
                hit = self.s.rpm_by_id.get(rpminfo['id'])
            else:
                hit = self.s.rpm_by_nvra.get('%s-%s-%s.%s' % (
                    rpminfo.get('name'), rpminfo.get('version'), rpminfo.get('release'), rpminfo.get('arch')))
        else:
            raise fault('Invalid type for rpminfo: %r' % (rpminfo,))
        if hit is not None and not self.s.visible(hit[1]):
            hit = None
        if hit is None:
            if strict:
                raise fault('No such rpm: %r' % (rpminfo,))
            return None
        m = self.rpm_map(hit[0])
        return [m] if multibuild else m

    METHODS = ('getAPIVersion', 'getBuild', 'listRPMs', 'listBuildRPMs', 'getRPM', 'listBuilds', 'getLastEvent', 'getEvent')

    def call(self, method, params):
        if method not in self.METHODS:
            raise fault('Invalid method: %s' % method)
        args, kw = decode_args(params)
        try:
            return getattr(self, method)(*args, **kw)
        except TypeError as e:
            raise fault('%s: %s' % (method, e), PARAMETER_ERROR)

    def multicall(self, calls):
        out = []
        self.tls.offline = 0
        for c in calls:
            try:
                name = c['methodName']
                if name in ('multiCall', 'system.multicall'):
                    raise fault('multicall cannot be nested')
                if self.s.take('multicall_offline'):
                    # as kojixmlrpc's enforce_lockout does for each call of a multicall
                    self.tls.offline += 1
                    raise fault('Server disabled for maintenance', SERVER_OFFLINE)
                out.append([self.call(name, c.get('params') or [])])
            except xmlrpc.client.Fault as f:
                out.append({'faultCode': f.faultCode, 'faultString': f.faultString})
            except Exception as e:  # a malformed entry
                out.append({'faultCode': GENERIC_ERROR, 'faultString': '%s: %s' % (type(e).__name__, e)})
        return out


# ---- HTTP ----

def parse_range(header, size):
    """(start, end) inclusive, 'unsatisfiable', or None to ignore the header (absent, invalid, multiple)."""
    if not header:
        return None
    h = header.strip()
    if not h.lower().startswith('bytes=') or ',' in h:
        return None
    spec = h[6:].strip()
    a, dash, b = spec.partition('-')
    a, b = a.strip(), b.strip()
    if not dash or (a and not a.isdigit()) or (b and not b.isdigit()) or (not a and not b):
        return None
    if not a:  # suffix: the last n bytes
        n = int(b)
        if n == 0 or size == 0:
            return 'unsatisfiable'
        return (max(0, size - n), size - 1)
    start = int(a)
    end = int(b) if b else size - 1
    if b and end < start:
        return None
    if start >= size:
        return 'unsatisfiable'
    return (start, min(end, size - 1))


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'fake-koji/1'
    # TCP_NODELAY, as Apache and nginx set it: headers and body go out as separate writes, and
    # with Nagle's algorithm the body would wait for the client's delayed ACK (~40 ms a request).
    disable_nagle_algorithm = True
    state = None  # set on the class before serving
    hub = None

    def log_message(self, fmt, *args):
        pass

    # -- helpers --

    def _log(self, status, nbytes, rpc=None, fault_name=None):
        self.state.log({
            't': time.time(), 'method': self.command, 'path': self.path,
            'range': self.headers.get('Range'), 'status': status, 'bytes': nbytes,
            'rpc': rpc, 'fault': fault_name, 'port': self.client_address[1],
        })

    def _abort(self):
        """Close the connection at once with a reset: no (further) response."""
        self.close_connection = True
        try:
            self.wfile.flush()
        except OSError:
            pass
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
            self.connection.close()
        except OSError:
            pass

    def _simple(self, status, body, ctype='text/plain; charset=utf-8', headers=(), rpc=None, fault_name=None, log=True):
        if isinstance(body, str):
            body = body.encode('utf-8')
        send_body = self.command != 'HEAD'
        if log:
            self._log(status, len(body) if send_body else 0, rpc, fault_name)
        self.send_response(status)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def _truncated(self, status, body, ctype, rpc, fault_name):
        """Announce the whole body, send half of it, close cleanly (FIN)."""
        half = body[:len(body) // 2]
        self._log(status, len(half), rpc, fault_name)
        self.send_response(status)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(half)
        self.wfile.flush()
        self.close_connection = True

    def _error(self, spec, rpc=None, fault_name=None):
        """An error answer of the given shape: status x content type x body (README.md)."""
        status = int(spec.get('status') or 503)
        ctype = spec.get('type')
        shape = spec.get('body') or 'short'
        if ctype not in ERROR_TYPES or shape not in ERROR_BODIES:
            raise ValueError('bad error spec %r' % (spec,))
        body = error_body(status, ctype, 'big' if shape in ('big', 'cut', 'reset') else shape, self.path)
        send_body = self.command != 'HEAD'
        sent = body[:len(body) // 2] if shape in ('cut', 'reset') else body
        # logged first, so a client that has the whole answer finds the line
        self._log(status, len(sent) if send_body else 0, rpc, fault_name)
        self.send_response(status)
        if ctype:
            self.send_header('Content-Type', ctype + ('; charset=utf-8' if ctype.startswith('text/') else ''))
        if spec.get('retry_after') is not None:
            self.send_header('Retry-After', str(spec['retry_after']))
        if shape == 'chunked':
            self.send_header('Transfer-Encoding', 'chunked')
        elif shape == 'close':
            self.send_header('Connection', 'close')
            self.close_connection = True
        else:
            self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if not send_body:
            return
        if shape == 'chunked':
            step = max(1, len(body) // 3 + 1)
            for i in range(0, len(body), step):
                part = body[i:i + step]
                self.wfile.write(b'%x\r\n%s\r\n' % (len(part), part))
                self.wfile.flush()
                time.sleep(0.01)
            self.wfile.write(b'0\r\n\r\n')
            return
        self.wfile.write(sent)
        self.wfile.flush()
        if shape == 'reset':
            return self._abort()
        if shape in ('cut', 'close'):
            self.close_connection = True

    def _read_body(self):
        if 'chunked' in (self.headers.get('Transfer-Encoding') or '').lower():
            out = bytearray()
            while True:
                line = self.rfile.readline(65537)
                n = int(line.split(b';', 1)[0].strip() or b'0', 16)
                if n == 0:
                    while self.rfile.readline(65537) not in (b'\r\n', b'\n', b''):
                        pass
                    return bytes(out)
                out += self.rfile.read(n)
                self.rfile.readline(65537)
        n = int(self.headers.get('Content-Length') or 0)
        return self.rfile.read(n) if n > 0 else b''

    def _route(self):
        return unquote(urlsplit(self.path).path)

    # -- verbs --

    def do_POST(self):
        path = self._route()
        body = self._read_body()
        if path == '/_control':
            try:
                self.state.control(json.loads(body or b'{}'))
            except (ValueError, TypeError, AttributeError, KeyError) as e:
                return self._simple(400, json.dumps({'error': str(e)}), 'application/json', log=False)
            return self._simple(200, json.dumps(self.state.snapshot()), 'application/json', log=False)
        if path.rstrip('/') != self.state.hub_path:
            return self._simple(404, 'not found\n')
        self.state.latency()
        self._xmlrpc(body)

    def _xmlrpc(self, body):
        self.state.refresh()
        rpc = None
        try:
            params, method = xmlrpc.client.loads(body)
            rpc = method
            if method in ('multiCall', 'system.multicall'):
                calls = params[0] if params and isinstance(params[0], list) else []
                rpc = [c.get('methodName') if isinstance(c, dict) else None for c in calls]
        except Exception as e:
            params, method, parse_error = None, None, e
        else:
            parse_error = None
        if self.state.take('stall_rpc'):
            with self.state.lock:
                pause = float(self.state.faults.get('stall_ms') or 0) / 1000.0
            self._log(None, 0, rpc, 'stall_rpc')
            time.sleep(pause)
        outage = self.state.outage_now('hub')
        if outage:
            return self._error(outage, rpc, 'outage')
        spec = self.state.take_error('rpc_error', self._route())
        if spec:
            return self._error(spec, rpc, 'rpc_error')
        if self.state.take('rpc_offline'):
            # kojixmlrpc's offline_reply: 200, a ServerOffline fault for the whole call
            data = dump_response(fault('database outage', SERVER_OFFLINE))
            return self._simple(200, data, 'text/xml', rpc=rpc, fault_name='rpc_offline')
        if self.state.take('rpc_503'):
            return self._simple(503, 'Service Unavailable\n', rpc=rpc, fault_name='rpc_503')
        if self.state.take('drop_rpc'):
            self._log(None, 0, rpc, 'drop_rpc')
            return self._abort()
        if self.state.take('rpc_garbage'):
            return self._simple(200, GARBAGE_XML, 'text/xml', rpc=rpc, fault_name='rpc_garbage')
        if self.state.take('rpc_html'):
            return self._simple(200, HTML_PAGE, 'text/html; charset=utf-8', rpc=rpc, fault_name='rpc_html')
        if self.state.take('rpc_fault'):
            data = dump_response(fault('injected fault: the hub is having a bad day'))
            return self._simple(200, data, 'text/xml', rpc=rpc, fault_name='rpc_fault')
        if self.state.take('close_rpc'):
            return self._truncated(200, dump_response(self.hub.call('getAPIVersion', [])), 'text/xml', rpc, 'close_rpc')
        offline = None
        if parse_error is not None:
            resp = fault('cannot parse request: %s' % parse_error)
        else:
            try:
                if method in ('multiCall', 'system.multicall'):
                    if not params or not isinstance(params[0], list):
                        raise fault('multicall expects a list of calls', PARAMETER_ERROR)
                    resp = self.hub.multicall(params[0])
                    if getattr(self.hub.tls, 'offline', 0):
                        offline = 'multicall_offline'
                else:
                    resp = self.hub.call(method, params)
            except xmlrpc.client.Fault as f:
                resp = f
            except Exception as e:
                resp = fault('%s: %s' % (type(e).__name__, e))
        try:
            data = dump_response(resp)
        except (OverflowError, TypeError) as e:
            data = dump_response(fault('cannot marshal the answer: %s' % e))
        self._simple(200, data, 'text/xml', rpc=rpc, fault_name=offline)

    def do_GET(self):
        path = self._route()
        if path == '/_control':
            return self._simple(200, json.dumps(self.state.snapshot()), 'application/json', log=False)
        if path.rstrip('/') == self.state.hub_path:
            return self._simple(405, 'Method Not Allowed: use XML-RPC POST\n', headers=[('Allow', 'POST')])
        self._file(path)

    def do_HEAD(self):
        self._file(self._route())

    def _file(self, path):
        st = self.state
        outage = st.outage_now('files')
        if outage:  # a proxy in front of the store answers for every path
            return self._error(outage, None, 'outage')
        if path in st.extra_files:
            spec = st.take_error('file_error', path) if self.command == 'GET' else None
            if spec:
                return self._error(spec, None, 'file_error')
            with open(st.extra_files[path], 'rb') as f:
                return self._simple(200, f.read(), 'text/plain; charset=utf-8')
        st.latency()
        hit = st.files.get(path)
        if hit is None or not hit[0].get('file') or not os.path.isfile(hit[0]['file']):
            return self._simple(404, 'not found\n')
        r, _b = hit
        nvra = '%s.%s' % (r['nvr'], r['arch'])
        is_get = self.command == 'GET'
        if nvra in st.fault_list('fail_forever'):
            return self._simple(503, 'Service Unavailable\n', fault_name='fail_forever')
        spec = st.take_error('file_error', path) if is_get else None
        if spec:
            return self._error(spec, None, 'file_error')
        if is_get and st.take('file_503'):
            return self._simple(503, 'Service Unavailable\n', fault_name='file_503')
        with st.lock:
            ignore_range = bool(st.faults.get('ignore_range'))
            slow = float(st.faults.get('slow_file_ms') or 0) / 1000.0
            in_payload = bool(st.faults.get('cut_in_payload'))
            no_length = bool(st.faults.get('no_content_length'))
            stall = float(st.faults.get('stall_ms') or 0) / 1000.0
        fname = r['file']
        size = os.path.getsize(fname)
        flip = None
        if nvra in st.fault_list('corrupt'):
            flip = st.corrupt_at.get(fname)
            if flip is None:
                off = payload_offset(fname)
                if off is None or off >= size:
                    off = 0
                flip = off + (size - off) // 2
                st.corrupt_at[fname] = flip
        rng = None if ignore_range else parse_range(self.headers.get('Range'), size)
        fault_name = 'corrupt' if flip is not None else None
        if rng == 'unsatisfiable':
            return self._simple(416, '', headers=[('Content-Range', 'bytes */%d' % size), ('Accept-Ranges', 'bytes')],
                                fault_name=fault_name)
        if rng is None:
            status, start, end = 200, 0, size - 1
        else:
            status, (start, end) = 206, rng
        length = end - start + 1
        # drop_file / close_file cut the body in half; with cut_in_payload they count only the
        # requests whose body holds the middle of the payload, and cut there.
        mid = payload_mid(fname, size)
        cuttable = is_get and (not in_payload or start < mid <= end)
        drop = cuttable and st.take('drop_file')
        close = cuttable and not drop and st.take('close_file')
        stalled = is_get and st.take('stall_file')
        fault_name = ('drop_file' if drop else 'close_file' if close else 'stall_file' if stalled
                      else 'corrupt' if flip is not None else None)
        if not is_get:
            self._log(status, 0, fault_name=fault_name)
        self.send_response(status)
        self.send_header('Content-Type', 'application/x-rpm')
        if no_length:
            self.send_header('Connection', 'close')
            self.close_connection = True
        else:
            self.send_header('Content-Length', str(length))
        if not ignore_range:
            self.send_header('Accept-Ranges', 'bytes')
        if status == 206:
            self.send_header('Content-Range', 'bytes %d-%d/%d' % (start, end, size))
        self.send_header('Last-Modified', self.date_time_string(int(os.path.getmtime(fname))))
        self.end_headers()
        if not is_get:
            return
        if stalled:
            self.wfile.flush()
            self._log(None, 0, fault_name='stall_file')  # now, so a client that gives up finds it
            time.sleep(stall)
        cut = drop or close
        limit = ((mid - start) if in_payload else length // 2) if cut else length
        sent = 0
        logged = False
        try:
            with open(fname, 'rb') as f:
                f.seek(start)
                while sent < limit:
                    if sent and slow:
                        time.sleep(slow)
                    buf = f.read(min(CHUNK, limit - sent))
                    if not buf:
                        break
                    pos = start + sent
                    if flip is not None and pos <= flip < pos + len(buf):
                        b = bytearray(buf)
                        b[flip - pos] ^= 0xFF
                        buf = bytes(b)
                    if sent + len(buf) >= limit and not cut:
                        # log before the last chunk so a client that has the whole body finds the line
                        self._log(status, sent + len(buf), fault_name=fault_name)
                        logged = True
                    self.wfile.write(buf)
                    sent += len(buf)
        except OSError:
            self.close_connection = True
        finally:
            if not logged:
                self._log(status, sent, fault_name=fault_name)
        if drop:
            self._abort()
        elif close:
            self.wfile.flush()
            self.close_connection = True


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False
    # A client opening --jobs connections at once must not find the listen backlog (default 5) full.
    request_queue_size = 256

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
            return
        super().handle_error(request, client_address)


def main(argv):
    if len(argv) != 2:
        print('usage: hub.py CONFIG.json', file=sys.stderr)
        return 2
    with open(argv[1], encoding='utf-8') as f:
        cfg = json.load(f)
    state = State(cfg)
    Handler.state = state
    Handler.hub = Hub(state)
    # 'bind': another address of this host (a test machine's link, test/helpers/netns.ts).
    server = Server((cfg.get('bind') or '127.0.0.1', 0), Handler)

    def stop(*_a):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    parent = os.getppid()

    def watch_parent():
        while True:
            time.sleep(1)
            if os.getppid() != parent:
                os.kill(os.getpid(), signal.SIGTERM)
                return

    threading.Thread(target=watch_parent, daemon=True).start()
    print('PORT %d' % server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
