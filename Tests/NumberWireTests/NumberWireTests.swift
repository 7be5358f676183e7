import Testing

@testable import NumberWire
