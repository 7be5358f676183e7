import Testing

@testable import NumberTLS
