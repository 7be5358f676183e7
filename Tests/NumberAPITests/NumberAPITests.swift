import Testing

@testable import NumberAPI
