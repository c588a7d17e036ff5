package importer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ParseJSON reads either a JSON array of contact objects or
// {"contacts": [...]}. Objects use the CSV column names; "phones" may be an
// array; "fields" holds free-form data; other keys become fields too. A
// malformed element is reported by its 1-based index and the rest still load.
func ParseJSON(r io.Reader, opt Options) (Result, error) {
	var res Result
	body, err := io.ReadAll(r)
	if err != nil {
		return res, fmt.Errorf("json: read: %w", err)
	}
	body = bytes.TrimSpace(body)
	var items []json.RawMessage
	if len(body) > 0 && body[0] == '{' {
		var wrap struct {
			Contacts []json.RawMessage `json:"contacts"`
		}
		if err := json.Unmarshal(body, &wrap); err != nil {
			return res, fmt.Errorf("json: %w", err)
		}
		if wrap.Contacts == nil {
			return res, errors.New(`json: want an array of contacts or {"contacts": [...]}`)
		}
		items = wrap.Contacts
	} else if err := json.Unmarshal(body, &items); err != nil {
		return res, fmt.Errorf("json: want an array of contacts or {\"contacts\": [...]}: %w", err)
	}
	l := newLoader(opt)
	for i, raw := range items {
		row := i + 1
		rec, err := jsonRecord(row, raw)
		if err != nil {
			l.refuse(RowError{Row: row, AccountID: rec.fields["account_id"], Reason: err.Error()})
			continue
		}
		l.add(rec)
	}
	return l.res, nil
}

func jsonRecord(row int, raw json.RawMessage) (record, error) {
	r := record{row: row, fields: map[string]string{}}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return r, fmt.Errorf("not a JSON object: %v", err)
	}
	// The id first, so later errors can name the account.
	for k, v := range obj {
		if name, _ := canonical(k); name == "account_id" {
			s, err := scalar(v)
			if err != nil {
				return r, fmt.Errorf("%s: %v", k, err)
			}
			r.fields["account_id"] = s
		}
	}
	for k, v := range obj {
		name, isPhone := canonical(k)
		switch {
		case name == "account_id":
		case isPhone:
			var list []string
			if err := json.Unmarshal(v, &list); err != nil {
				s, serr := scalar(v)
				if serr != nil {
					return r, fmt.Errorf("%s: want a string or an array of strings", k)
				}
				list = []string{s}
			}
			r.addPhones(list...)
		case name == "fields":
			var m map[string]any
			if err := json.Unmarshal(v, &m); err != nil {
				return r, fmt.Errorf("fields: want an object")
			}
			for fk, fv := range m {
				r.setExtra(strings.ToLower(fk), fmt.Sprint(fv))
			}
		case known[name]:
			s, err := scalar(v)
			if err != nil {
				return r, fmt.Errorf("%s: %v", k, err)
			}
			r.fields[name] = s
		default:
			s, err := scalar(v)
			if err != nil {
				s = string(v)
			}
			r.setExtra(name, s)
		}
	}
	return r, nil
}

// scalar renders a JSON string, number, bool or null as text.
func scalar(v json.RawMessage) (string, error) {
	var x any
	d := json.NewDecoder(bytes.NewReader(v))
	d.UseNumber()
	if err := d.Decode(&x); err != nil {
		return "", err
	}
	switch t := x.(type) {
	case nil:
		return "", nil
	case string:
		return t, nil
	case json.Number:
		return t.String(), nil
	case bool:
		return strconv.FormatBool(t), nil
	}
	return "", errors.New("want a string or a number")
}
