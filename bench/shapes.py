#!/usr/bin/env python3
# Query shapes on 100,000 tickets against one andibase binary (a stop-gap before the
# bench/ matrix of issue 14): python3 bench/shapes.py BINARY PORT [RECORDS]
import http.client, json, sys, threading, time, urllib.parse, random, subprocess, os, shutil
binary, port = sys.argv[1], int(sys.argv[2])
data = f"/tmp/shapes-{port}"
shutil.rmtree(data, ignore_errors=True)
run = lambda *a: subprocess.run([binary, "--data-dir", data, *a], capture_output=True, text=True)
run("user", "create", "--email", "a@b.c", "--password", "correct horse", "--admin")
run("workspace", "create", "--name", "W", "--owner", "a@b.c")
key = [w for w in run("key", "create", "--workspace", "w", "--role", "admin", "--name", "k").stdout.split() if w.startswith("andi_live_")][0]
srv = subprocess.Popen([binary, "--data-dir", data, "serve", "--listen", f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(1)
import atexit; atexit.register(lambda: srv.terminate())
H = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
def req(c, method, path, body=None):
    for attempt in range(2):
        try:
            c.request(method, path, body=json.dumps(body) if body is not None else None, headers=H)
            r = c.getresponse(); d = r.read(); return r.status, d
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            c.close()
    raise RuntimeError("connection closed twice")
c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
print(req(c, "POST", "/api/v1/data-definitions", {"name": "Tickets", "attributes": {
  "title": {"type": "text"}, "status": {"type": "text", "indexed": True}, "customer": {"type": "text", "indexed": True},
  "amount": {"type": "number", "indexed": True}, "dueAt": {"type": "datetime"}}})[0])
N = int(sys.argv[3]) if len(sys.argv) > 3 else 100000
rnd = random.Random(1)
t0 = time.time()
for b in range(N // 1000):
    recs = [{"id": f"t{b*1000+i:07d}", "name": f"Ticket {b*1000+i}", "attributes": {"title": f"printer jam {rnd.randint(0,9999)}", "status": rnd.choice(["open","closed","pending"]),
             "customer": f"cus_{rnd.randint(0,999)}", "amount": rnd.randint(0,1000), "dueAt": f"2026-{rnd.randint(1,12):02d}-{rnd.randint(1,28):02d}T10:00:00Z"}} for i in range(1000)]
    s, d = req(c, "POST", "/api/v1/data-definitions/tickets/data/upsert-many", {"records": recs})
    assert s == 200, d[:300]
print(f"inserted {N} in {time.time()-t0:.1f}s")
shapes = [("first page", ""), ("sort=-createdAt", "sort=-createdAt"), ("status=open sort=-amount", "filter=" + urllib.parse.quote('status = "open"') + "&sort=-amount"),
  ("status=open && amount>500 sort=-amount", "filter=" + urllib.parse.quote('status = "open" && amount > 500') + "&sort=-amount"),
  ("search=printer", "search=printer"), ("month of dueAt sort=dueAt", "filter=" + urllib.parse.quote('dueAt >= "2026-03-01T00:00:00Z" && dueAt < "2026-04-01T00:00:00Z"') + "&sort=dueAt"),
  ("status=open count=true", "filter=" + urllib.parse.quote('status = "open"') + "&count=true"),
  ("page 20 of -createdAt (cursor)", "CURSOR")]
def cursor_path():
    p = "/api/v1/data-definitions/tickets/query?sort=-createdAt&limit=50"
    cur = None
    for _ in range(20):
        s, d = req(c, "GET", p + (f"&cursor={cur}" if cur else "")); cur = json.loads(d)["nextCursor"]
    return p + f"&cursor={cur}"
for name, q in shapes:
    path = cursor_path() if q == "CURSOR" else f"/api/v1/data-definitions/tickets/query?{q}"
    lat = []; stop = time.time() + 3; lock = threading.Lock()
    def worker():
        cc = http.client.HTTPConnection("127.0.0.1", port)
        while time.time() < stop:
            t = time.time(); s, d = req(cc, "GET", path); assert s == 200, d[:200]
            with lock: lat.append(time.time() - t)
    ts = [threading.Thread(target=worker) for _ in range(16)]
    [t.start() for t in ts]; [t.join() for t in ts]
    lat.sort()
    print(f"| {name} | {len(lat)/3:.0f} req/s | p50 {lat[len(lat)//2]*1000:.1f} ms |")
srv.terminate(); srv.wait()

