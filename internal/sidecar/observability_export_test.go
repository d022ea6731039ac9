package sidecar

// NewLoggerTo is NewLogger writing to a file, for the external tests.
var NewLoggerTo = newLogger
