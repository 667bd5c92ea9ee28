#!/usr/bin/env node
// `optimize decide` against ce-optimize's own decide.mjs, on the same
// payloads: random ones covering every rule (objectives, judge containers,
// every comparison method, paired sample counts, gates, the ladder, futility,
// held-out pairs, per-case regressions, numbers as strings, missing and
// malformed values), and, with --cases DIR, the payloads our port of
// ce-optimize's own tests decides (bench/decide_parity.sh writes them).
// Prints each disagreement and a count; exits 1 when any.
//
//   node bench/decide_parity.mjs DECIDE_MJS [--count N] [--seed S] [--cases DIR] [--bin OPTIMIZE]
//
// DECIDE_MJS is skills/ce-optimize/scripts/decide.mjs in a checkout of
// https://github.com/EveryInc/compound-engineering-plugin.

import { execFileSync } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"
import { resolve } from "node:path"
import { pathToFileURL } from "node:url"

const args = process.argv.slice(2)
const option = (name, fallback) => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : fallback
}
const decideMjs = args[0]
if (!decideMjs || decideMjs.startsWith("--")) {
  console.error("usage: node bench/decide_parity.mjs DECIDE_MJS [--count N] [--seed S] [--cases DIR] [--bin OPTIMIZE]")
  process.exit(2)
}
const { decide } = await import(pathToFileURL(resolve(decideMjs)).href)
const count = Number(option("--count", 2000))
let seed = Number(option("--seed", 1))
const casesDir = option("--cases", null)
const bin = option("--bin", resolve("target/debug/optimize"))

function rnd() { seed = (seed + 0x6D2B79F5) | 0; let t = Math.imul(seed ^ (seed >>> 15), 1 | seed); t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t; return ((t ^ (t >>> 14)) >>> 0) / 4294967296 }
const pick = (xs) => xs[Math.floor(rnd() * xs.length)]
const maybe = (p, f) => (rnd() < p ? f() : undefined)
const num = () => pick([0, 1, 2, 5, 10, -1, 0.5, 100, 3.3, 0.02, 1.05, 0.95])
function vary(v) { return pick([v, v * 1.01, v * 1.1, v * 0.9, v * 0.99, v + 0.5, v - 0.5, v * 1.5, v * 0.5, v]) }
function value(base) {
  const kind = rnd()
  if (kind < 0.35) return vary(base)
  if (kind < 0.4) return String(vary(base))
  if (kind < 0.42) return pick([null, "", "abc", true, [1]])
  const n = Math.floor(rnd() * 8)
  const samples = Array.from({ length: n }, () => vary(base))
  const o = {}
  if (rnd() < 0.8) o.samples = samples
  if (rnd() < 0.1 && o.samples?.length) o.samples[0] = pick([null, "x", String(samples[0])])
  if (rnd() < 0.4) o.aggregate = pick([vary(base), String(base), null])
  return o
}
const names = ["score", "time", "acc", "judge_q"]
function spec() {
  const primaryName = pick(names)
  const primary = { name: primaryName }
  maybe(0.8, () => (primary.direction = pick(["maximize", "minimize", "bogus"])))
  maybe(0.3, () => (primary.type = pick(["hard", "judge"])))
  maybe(0.2, () => (primary.target = num()))
  maybe(0.1, () => (primary.max_regression = { type: pick(["absolute", "relative"]), value: num() }))
  const metric = { primary }
  maybe(0.5, () => {
    metric.objectives = [...names, ...names].filter(() => rnd() < 0.3).map((name) => {
      const o = { name }
      maybe(0.5, () => (o.direction = pick(["maximize", "minimize"])))
      maybe(0.3, () => (o.role = pick(["required", "secondary"])))
      maybe(0.3, () => (o.type = pick(["hard", "judge"])))
      maybe(0.2, () => (o.target = num()))
      maybe(0.3, () => (o.max_regression = { type: pick(["absolute", "relative", undefined]), value: pick([num(), "0.1", -1, "x"]) }))
      return o
    })
  })
  maybe(0.4, () => (metric.degenerate_gates = [{ name: "g", check: pick([">= 1", "< 5", "== 0", "!= 2", ">0.5"]) }]))
  maybe(0.3, () => (metric.judge = { minimum_improvement: maybe(0.5, num), confirmation_seed: maybe(0.5, () => pick([42, 7, "7"])), sample_seed: maybe(0.3, () => pick([42, 7])) }))
  const stability = {}
  maybe(0.4, () => (stability.mode = pick(["ladder", "repeat", "single"])))
  maybe(0.5, () => (stability.noise_threshold = pick([num(), "0.1", -1])))
  maybe(0.4, () => (stability.repeat_count = pick([1, 3, 5, "2", 0])))
  maybe(0.3, () => (stability.aggregation = pick(["mean", "min", "max", "median", "bogus"])))
  maybe(0.6, () => {
    stability.comparison = { method: pick(["absolute", "relative", "paired", "bogus"]) }
    maybe(0.5, () => (stability.comparison.relative_threshold = pick([0.01, 0.05, 0.1, "0.02", -1])))
    maybe(0.3, () => (stability.comparison.noise_threshold = pick([0.01, 0.5, 1])))
    maybe(0.2, () => (stability.comparison.minimum_improvement = pick([0.1, 0.3, 1])))
  })
  maybe(0.5, () => {
    const ladder = {}
    maybe(0.6, () => (ladder.enabled = pick([true, false, 1, 0])))
    maybe(0.5, () => (ladder.exploratory_pairs = pick([1, 2, 3, 0, "2"])))
    maybe(0.5, () => (ladder.confirmation_repeats = pick([1, 2, 3, 5, 0])))
    maybe(0.2, () => (ladder.smoke_command = "true"))
    maybe(0.5, () => {
      ladder.futility = {}
      maybe(0.6, () => (ladder.futility.worse_factor = pick([1.2, 1.5, 1, 0.5, 2, "1.3"])))
      maybe(0.5, () => (ladder.futility.after_elapsed_seconds = pick([0, 10, 100, -5, "20", null])))
    })
    stability.ladder = ladder
  })
  const measurement = { stability }
  maybe(0.3, () => (measurement.holdout = { command: pick(["./holdout.sh", ""]) }))
  return { metric, measurement }
}
function snapshot(spec, base) {
  const s = {}
  const objNames = new Set([spec.metric.primary.name, ...(spec.metric.objectives ?? []).map((o) => o.name)])
  for (const name of objNames) {
    if (rnd() < 0.02) continue
    const container = pick(["metrics", "metrics", "metrics", "judge", "diagnostics", "gates"])
    s[container] ??= {}
    s[container][name] = value(base[name])
    maybe(0.1, () => { const c2 = pick(["metrics", "judge"]); s[c2] ??= {}; s[c2][name] = value(base[name] * 2) })
  }
  maybe(0.7, () => { s.gates ??= {}; s.gates.g = pick([1, 1, 1, 2, 5, "1", 0, null]) })
  maybe(0.08, () => (s.smoke_passed = pick([true, false, null])))
  maybe(0.3, () => (s.elapsed_seconds = pick([0, 5, 50, 500, "30"])))
  maybe(0.2, () => (s.sample_count = pick([1, 2, 3, 5, 0, "2"])))
  maybe(0.3, () => (s.cases = Object.fromEntries(["c1", "c2", "c3"].filter(() => rnd() < 0.8).map((c) => [c, pick([true, false, 1, 0, "pass", "fail", "true", "1", null])]))))
  return s
}

function ours(payload) {
  try {
    const out = execFileSync(bin, ["decide", "-"], { input: JSON.stringify(payload), stdio: ["pipe", "pipe", "pipe"] })
    return JSON.parse(out.toString())
  } catch (e) {
    return { throws: String(e.stderr ?? e.message) }
  }
}

function theirs(payload) {
  try {
    return decide(JSON.parse(JSON.stringify(payload)))
  } catch (e) {
    return { throws: String(e.message) }
  }
}

function compare(a, b, path) {
  if (typeof a === "number" && typeof b === "number")
    return Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(a)) ? null : `${path}: ${a} vs ${b}`
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object")
    return a === b ? null : `${path}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`
  if (Array.isArray(a) !== Array.isArray(b)) return `${path}: a list against an object`
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const d = compare(a[k], b[k], `${path}.${k}`)
    if (d) return d
  }
  return null
}

const payloads = []
if (casesDir) {
  for (const f of readdirSync(casesDir).sort()) payloads.push(["test case " + f, JSON.parse(readFileSync(`${casesDir}/${f}`, "utf8"))])
}
for (let i = 0; i < count; i++) {
  const sp = spec()
  const base = Object.fromEntries(names.map((n) => [n, num()]))
  const payload = { spec: sp, baseline: snapshot(sp, base), candidate: snapshot(sp, base) }
  maybe(0.4, () => (payload.holdout = pick([{ baseline: snapshot(sp, base), candidate: snapshot(sp, base) }, { candidate: snapshot(sp, base) }, 5, "x", { baseline: null, candidate: snapshot(sp, base) }, null])))
  maybe(0.05, () => (payload.candidate.cases = pick([[true, false], "x", null, [1, 0, "pass"]])))
  maybe(0.05, () => (payload.baseline.cases = pick([[true, true, true], { "10": true, "9": true, "a": 1 }])))
  payloads.push([`random payload ${i} (seed ${option("--seed", 1)})`, payload])
}
let disagreements = 0
for (const [what, payload] of payloads) {
  const expected = theirs(payload)
  const actual = ours(payload)
  const diff = expected.throws && actual.throws ? null : compare(expected, actual, "")
  if (diff) {
    disagreements++
    if (disagreements <= 10) {
      console.log(`--- ${what}: ${diff}`)
      console.log(JSON.stringify(payload))
      console.log("decide.mjs:", JSON.stringify(expected))
      console.log("optimize:  ", JSON.stringify(actual))
    }
  }
}
console.log(`${payloads.length} payloads (${payloads.length - count} test cases, ${count} random): ${disagreements} disagree`)
process.exit(disagreements ? 1 : 0)
