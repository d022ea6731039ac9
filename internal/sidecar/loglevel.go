package sidecar

import (
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// ReloadableLevel marks a logger whose level is lvl (the level its core
// was built with), so that a reload can change log_level: New finds lvl
// again from the logger's core and Reload sets it. NewLogger passes it;
// a logger built another way keeps its level across reloads.
func ReloadableLevel(lvl zap.AtomicLevel) zap.Option {
	return zap.WrapCore(func(c zapcore.Core) zapcore.Core { return levelCore{Core: c, lvl: lvl} })
}

// levelCore is a core that carries the AtomicLevel that governs it.
type levelCore struct {
	zapcore.Core
	lvl zap.AtomicLevel
}

// With keeps the wrapper on derived cores (log.With(...)).
func (c levelCore) With(f []zapcore.Field) zapcore.Core {
	return levelCore{Core: c.Core.With(f), lvl: c.lvl}
}

// levelOf is the reloadable level of log, if it has one.
func levelOf(log *zap.Logger) (zap.AtomicLevel, bool) {
	if log == nil {
		return zap.AtomicLevel{}, false
	}
	c, ok := log.Core().(levelCore)
	return c.lvl, ok
}
