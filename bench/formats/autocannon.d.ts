// The part of autocannon 8's programmatic API the benchmarks use (the package ships no types).
declare module 'autocannon' {
  interface Histogram {
    average: number
    min: number
    max: number
    total: number
    p50: number
    p99: number
  }
  interface Options {
    url: string
    connections?: number
    /** Seconds. */
    duration?: number
    amount?: number
    headers?: Record<string, string>
    method?: string
  }
  interface Result {
    requests: Histogram
    latency: Histogram
    throughput: Histogram
    /** Seconds. */
    duration: number
    errors: number
    timeouts: number
    non2xx: number
    statusCodeStats: Record<string, { count: number }>
  }
  function autocannon(options: Options): Promise<Result>
  export default autocannon
}
