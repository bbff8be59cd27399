package boltserver

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
)

// PackStream v1, the value encoding of Bolt: enough of it for the values
// usersvc's statements send and receive (null, booleans, integers, floats,
// strings, bytes, lists, maps) plus the message structures.

// structure is a PackStream structure: a tag and its fields.
type structure struct {
	tag    byte
	fields []any
}

type encoder struct{ buf []byte }

func (e *encoder) value(v any) error {
	switch x := v.(type) {
	case nil:
		e.buf = append(e.buf, 0xC0)
	case bool:
		if x {
			e.buf = append(e.buf, 0xC3)
		} else {
			e.buf = append(e.buf, 0xC2)
		}
	case int:
		e.int(int64(x))
	case int64:
		e.int(x)
	case int32:
		e.int(int64(x))
	case float64:
		e.buf = append(e.buf, 0xC1)
		e.buf = binary.BigEndian.AppendUint64(e.buf, math.Float64bits(x))
	case string:
		e.header(len(x), 0x80, 0xD0, 0xD1, 0xD2)
		e.buf = append(e.buf, x...)
	case []byte:
		switch n := len(x); {
		case n <= math.MaxUint8:
			e.buf = append(e.buf, 0xCC, byte(n))
		case n <= math.MaxUint16:
			e.buf = append(e.buf, 0xCD)
			e.buf = binary.BigEndian.AppendUint16(e.buf, uint16(n))
		default:
			e.buf = append(e.buf, 0xCE)
			e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(n))
		}
		e.buf = append(e.buf, x...)
	case []any:
		e.header(len(x), 0x90, 0xD4, 0xD5, 0xD6)
		for _, item := range x {
			if err := e.value(item); err != nil {
				return err
			}
		}
	case []string:
		e.header(len(x), 0x90, 0xD4, 0xD5, 0xD6)
		for _, item := range x {
			_ = e.value(item)
		}
	case map[string]any:
		e.header(len(x), 0xA0, 0xD8, 0xD9, 0xDA)
		// Sorted keys keep the wire bytes deterministic.
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			_ = e.value(k)
			if err := e.value(x[k]); err != nil {
				return err
			}
		}
	case structure:
		if len(x.fields) > 15 {
			return errors.New("packstream: structure with more than 15 fields")
		}
		e.buf = append(e.buf, 0xB0|byte(len(x.fields)), x.tag)
		for _, f := range x.fields {
			if err := e.value(f); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("packstream: cannot encode %T", v)
	}
	return nil
}

func (e *encoder) header(n int, tiny, b8, b16, b32 byte) {
	switch {
	case n < 16:
		e.buf = append(e.buf, tiny|byte(n))
	case n <= math.MaxUint8:
		e.buf = append(e.buf, b8, byte(n))
	case n <= math.MaxUint16:
		e.buf = append(e.buf, b16)
		e.buf = binary.BigEndian.AppendUint16(e.buf, uint16(n))
	default:
		e.buf = append(e.buf, b32)
		e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(n))
	}
}

func (e *encoder) int(n int64) {
	switch {
	case n >= -16 && n <= 127:
		e.buf = append(e.buf, byte(int8(n)))
	case n >= math.MinInt8 && n <= math.MaxInt8:
		e.buf = append(e.buf, 0xC8, byte(int8(n)))
	case n >= math.MinInt16 && n <= math.MaxInt16:
		e.buf = append(e.buf, 0xC9)
		e.buf = binary.BigEndian.AppendUint16(e.buf, uint16(int16(n)))
	case n >= math.MinInt32 && n <= math.MaxInt32:
		e.buf = append(e.buf, 0xCA)
		e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(int32(n)))
	default:
		e.buf = append(e.buf, 0xCB)
		e.buf = binary.BigEndian.AppendUint64(e.buf, uint64(n))
	}
}

type decoder struct {
	buf []byte
	pos int
}

var errShort = errors.New("packstream: truncated value")

func (d *decoder) take(n int) ([]byte, error) {
	if n < 0 || d.pos+n > len(d.buf) {
		return nil, errShort
	}
	b := d.buf[d.pos : d.pos+n]
	d.pos += n
	return b, nil
}

func (d *decoder) size(marker, tinyBase byte, b8, b16, b32 byte) (int, error) {
	switch {
	case marker&0xF0 == tinyBase:
		return int(marker & 0x0F), nil
	case marker == b8:
		b, err := d.take(1)
		if err != nil {
			return 0, err
		}
		return int(b[0]), nil
	case marker == b16:
		b, err := d.take(2)
		if err != nil {
			return 0, err
		}
		return int(binary.BigEndian.Uint16(b)), nil
	default:
		b, err := d.take(4)
		if err != nil {
			return 0, err
		}
		return int(binary.BigEndian.Uint32(b)), nil
	}
}

func (d *decoder) value() (any, error) {
	mb, err := d.take(1)
	if err != nil {
		return nil, err
	}
	m := mb[0]
	switch {
	case m <= 0x7F || m >= 0xF0:
		return int64(int8(m)), nil
	case m == 0xC0:
		return nil, nil
	case m == 0xC2:
		return false, nil
	case m == 0xC3:
		return true, nil
	case m == 0xC1:
		b, err := d.take(8)
		if err != nil {
			return nil, err
		}
		return math.Float64frombits(binary.BigEndian.Uint64(b)), nil
	case m >= 0xC8 && m <= 0xCB:
		b, err := d.take(1 << (m - 0xC8))
		if err != nil {
			return nil, err
		}
		switch m {
		case 0xC8:
			return int64(int8(b[0])), nil
		case 0xC9:
			return int64(int16(binary.BigEndian.Uint16(b))), nil
		case 0xCA:
			return int64(int32(binary.BigEndian.Uint32(b))), nil
		default:
			return int64(binary.BigEndian.Uint64(b)), nil
		}
	case m >= 0xCC && m <= 0xCE:
		n, err := d.size(m, 0xFF, 0xCC, 0xCD, 0xCE)
		if err != nil {
			return nil, err
		}
		b, err := d.take(n)
		return append([]byte(nil), b...), err
	case m&0xF0 == 0x80 || (m >= 0xD0 && m <= 0xD2):
		n, err := d.size(m, 0x80, 0xD0, 0xD1, 0xD2)
		if err != nil {
			return nil, err
		}
		b, err := d.take(n)
		return string(b), err
	case m&0xF0 == 0x90 || (m >= 0xD4 && m <= 0xD6):
		n, err := d.size(m, 0x90, 0xD4, 0xD5, 0xD6)
		if err != nil {
			return nil, err
		}
		list := make([]any, 0, min(n, 1024))
		for range n {
			v, err := d.value()
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		return list, nil
	case m&0xF0 == 0xA0 || (m >= 0xD8 && m <= 0xDA):
		n, err := d.size(m, 0xA0, 0xD8, 0xD9, 0xDA)
		if err != nil {
			return nil, err
		}
		out := make(map[string]any, min(n, 1024))
		for range n {
			k, err := d.value()
			if err != nil {
				return nil, err
			}
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("packstream: map key is %T", k)
			}
			if out[ks], err = d.value(); err != nil {
				return nil, err
			}
		}
		return out, nil
	case m&0xF0 == 0xB0:
		tag, err := d.take(1)
		if err != nil {
			return nil, err
		}
		s := structure{tag: tag[0]}
		for range int(m & 0x0F) {
			v, err := d.value()
			if err != nil {
				return nil, err
			}
			s.fields = append(s.fields, v)
		}
		return s, nil
	}
	return nil, fmt.Errorf("packstream: unknown marker %#x", m)
}

// decodeMessage reads one message structure from a de-chunked buffer.
func decodeMessage(buf []byte) (structure, error) {
	d := &decoder{buf: buf}
	v, err := d.value()
	if err != nil {
		return structure{}, err
	}
	s, ok := v.(structure)
	if !ok {
		return structure{}, fmt.Errorf("bolt: message is %T, not a structure", v)
	}
	if d.pos != len(buf) {
		return structure{}, errors.New("bolt: trailing bytes after message")
	}
	return s, nil
}
