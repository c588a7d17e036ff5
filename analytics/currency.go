package analytics

import "strings"

// ValidCurrency reports whether code is an active ISO 4217 currency code, in
// upper case ("MXN", not "mxn").
//
// golang.org/x/text/currency was the first choice, but its table is CLDR's:
// it accepts withdrawn codes (DEM, VEF, HRK) and refuses current ones
// (VES, SLE, ZWG), so the table is kept here. It is ISO 4217 List One as of
// 2026 without the codes that are not money a debtor pays in: precious
// metals (XAU, XAG, XPT, XPD), bond-market and accounting units (XBA–XBD,
// XDR, XSU, XUA), testing (XTS) and "no currency" (XXX). Fund codes stay
// (CLF, the Unidad de Fomento, denominates Chilean debts). Withdrawn codes
// (ANG, BGN, CUC, HRK, SLL, VEF, ZWL, ...) are refused.
func ValidCurrency(code string) bool {
	if len(code) != 3 {
		return false
	}
	for i := range 3 {
		if code[i] < 'A' || code[i] > 'Z' {
			return false
		}
	}
	return strings.Contains(iso4217, code)
}

// iso4217 lists the codes, space separated (a constant: nothing can change it).
const iso4217 = "" +
	"AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD " +
	"CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP " +
	"GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW " +
	"KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN " +
	"NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD " +
	"SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW " +
	"UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG "
