# SPDX-License-Identifier: MIT
"""Clients of accel-serve for tests/cli/serve.sh; each prints PASS/FAIL lines.

  load URL KEY CLIENTS REQUESTS RUN MODEL: concurrent greedy completions
      (stdlib HTTP, one thread per client), each compared with accel-run
      --temp 0 on the same prompt
  openai URL RUN MODEL: the `openai` package: completions, chat, streaming
  pair REF_URL URL CLIENTS REQUESTS TOKENS: each prompt alone on the server
      at REF_URL (one process), then CLIENTS x REQUESTS concurrent greedy
      completions on URL (its layers over mpirun ranks), each compared
      with the reference's response to its prompt
"""
import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request

PROMPTS = [
    "Once upon a time",
    "The little dog",
    "Lily and Tom went to the park and saw a big red ball near the tree",
    "One day",
    "The sun was shining and the birds were singing. A girl named Sue",
    "Tim had a toy car",
    "Mom said",
    "There was a cat who liked to sleep all day in the warm sun by the window",
]
N_TOKENS = 8


def report(ok, name):
    print(("PASS " if ok else "FAIL ") + name, flush=True)


def accel_run(run, model, prompt, n, extra=()):
    """accel-run's text for @prompt: its stdout less the newline it adds."""
    out = subprocess.run([run, "-m", model, "-p", prompt, "-n", str(n), "-t", "2", *extra],
                         capture_output=True, check=True).stdout.decode()
    return out[:-1] if out.endswith("\n") else out


def post(url, key, body, timeout=300):
    req = urllib.request.Request(url + "/v1/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json",
                                          "Authorization": "Bearer " + key})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def load(url, key, clients, requests, run, model):
    refs = [accel_run(run, model, p, N_TOKENS, ("--temp", "0")) for p in PROMPTS]
    results = {}
    errors = []

    def client(c):
        for r in range(requests):
            i = (c * requests + r) % len(PROMPTS)
            try:
                resp = post(url, key, {"prompt": PROMPTS[i], "max_tokens": N_TOKENS,
                                       "temperature": 0})
                results[(c, r)] = (i, resp["choices"][0]["text"], resp["usage"])
            except Exception as e:  # a lost request counts as such
                errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = clients * requests
    same = sum(1 for i, text, _ in results.values() if text == refs[i])
    usage_ok = all(u["completion_tokens"] <= N_TOKENS and u["prompt_tokens"] > 0
                   for _, _, u in results.values())
    for e in errors[:3]:
        print("# error: " + e)
    for (c, r), (i, text, _) in sorted(results.items()):
        if text != refs[i]:
            print("# client %d request %d: %r != accel-run's %r" % (c, r, text, refs[i]))
            break
    report(len(results) == total and not errors,
           "load: %d clients x %d requests: %d answered, none lost" % (clients, requests,
                                                                       len(results)))
    report(same == total, "load: %d of %d greedy responses equal accel-run --temp 0" %
           (same, total))
    report(usage_ok, "load: usage counts in every response")


def pair(ref_url, url, clients, requests, n_tokens):
    body = lambda p: {"prompt": p, "max_tokens": n_tokens, "temperature": 0}
    refs = [post(ref_url, "none", body(p))["choices"][0]["text"] for p in PROMPTS]
    results = {}
    errors = []

    def client(c):
        for r in range(requests):
            i = (c * requests + r) % len(PROMPTS)
            try:
                results[(c, r)] = (i, post(url, "none", body(PROMPTS[i]))["choices"][0]["text"])
            except Exception as e:  # a lost request counts as such
                errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = clients * requests
    same = sum(1 for i, text in results.values() if text == refs[i])
    for e in errors[:3]:
        print("# error: " + e)
    for (c, r), (i, text) in sorted(results.items()):
        if text != refs[i]:
            print("# client %d request %d: %r != the reference's %r" % (c, r, text, refs[i]))
            break
    report(len(results) == total and not errors and all(refs),
           "pair: %d clients x %d requests: %d answered, none lost" % (clients, requests,
                                                                       len(results)))
    report(same == total, "pair: %d of %d greedy responses equal the one-process server's" %
           (same, total))


def openai_checks(url, run, model):
    import openai

    cl = openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0, timeout=300)
    prompt = "The capital of France is"
    ref = accel_run(run, model, prompt, 12, ("--temp", "0"))
    r = cl.completions.create(model="m", prompt=prompt, max_tokens=12, temperature=0)
    report(r.choices[0].text == ref and r.usage.completion_tokens == 12 and
           r.choices[0].finish_reason == "length",
           "openai completions: %r == accel-run's %r" % (r.choices[0].text, ref))
    # the same prompt streamed: the pieces add up to the same text
    pieces = []
    fin = None
    for ch in cl.completions.create(model="m", prompt=prompt, max_tokens=12, temperature=0,
                                    stream=True):
        pieces.append(ch.choices[0].text)
        fin = ch.choices[0].finish_reason or fin
    report("".join(pieces) == ref and fin == "length",
           "openai completions stream: %d chunks add up to the same text" % len(pieces))
    question = "What is the capital of France?"
    cref = accel_run(run, model, question, 16, ("--temp", "0", "--chat-once"))
    r = cl.chat.completions.create(model="m", max_tokens=16, temperature=0,
                                   messages=[{"role": "user", "content": question}])
    report(r.choices[0].message.content == cref and r.choices[0].message.role == "assistant",
           "openai chat: %r == accel-run --chat-once's %r" % (r.choices[0].message.content,
                                                             cref))
    pieces = []
    usage = None
    for ch in cl.chat.completions.create(model="m", max_tokens=16, temperature=0, stream=True,
                                         stream_options={"include_usage": True},
                                         messages=[{"role": "user", "content": question}]):
        if ch.choices and ch.choices[0].delta.content:
            pieces.append(ch.choices[0].delta.content)
        if ch.usage:
            usage = ch.usage
    report("".join(pieces) == cref and usage is not None and usage.prompt_tokens > 0,
           "openai chat stream: the same text, usage in the last chunk")
    # a chat history that shares the first turn: its full blocks come from the cache
    hist = [{"role": "system", "content": "You are a helpful assistant who answers " * 6},
            {"role": "user", "content": question}]
    cl.chat.completions.create(model="m", max_tokens=2, temperature=0, messages=hist)
    r = cl.chat.completions.create(model="m", max_tokens=2, temperature=0,
                                   messages=hist + [{"role": "assistant", "content": "Paris."},
                                                    {"role": "user", "content": "And Spain?"}])
    cached = r.usage.prompt_tokens_details.cached_tokens
    report(cached >= 32, "openai chat: a continued conversation reuses %d cached tokens" % cached)
    try:
        cl.completions.create(model="m", prompt=prompt, max_tokens=10 ** 6)
        report(False, "openai: max_tokens beyond the context refused")
    except openai.BadRequestError as e:
        report(e.status_code == 400, "openai: max_tokens beyond the context: 400")
    m = cl.models.list()
    report(len(m.data) == 1, "openai models: %s" % m.data[0].id)


def main():
    if sys.argv[1] == "load":
        load(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6],
             sys.argv[7])
    elif sys.argv[1] == "pair":
        pair(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
    elif sys.argv[1] == "openai":
        openai_checks(sys.argv[2], sys.argv[3], sys.argv[4])


if __name__ == "__main__":
    main()
