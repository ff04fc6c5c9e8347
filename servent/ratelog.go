package servent

import (
	"net"
	"time"

	"go.uber.org/zap"
)

// rateLog logs bad input from a peer at most once a second per reason.
func (s *Servent) rateLog(reason string, nc net.Conn, err error) {
	ok, suppressed := s.limiter.Allow(reason, time.Now())
	if !ok {
		return
	}
	fields := []zap.Field{zap.String("remote", nc.RemoteAddr().String()), zap.Error(err)}
	if suppressed > 0 {
		fields = append(fields, zap.Int("suppressed", suppressed))
	}
	s.log.Info(reason, fields...)
}
