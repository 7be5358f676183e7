import FuzzChecks

/// libFuzzer's entry point: one input through `FuzzTarget.frameDecoder`'s check; aborts on a broken property.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzRunner.runOne(.frameDecoder, data, size)
}
