/// Placeholder replaced below.
@main
struct StoreBenchmark {
    static func main() {}
}
