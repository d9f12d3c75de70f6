#!/bin/sh
# leap.sh YEAR: prints "leap" or "common" for a year of the Gregorian calendar.
year=$1
case $year in
'' | *[!0-9]*)
	echo "leap.sh: not a year: '$year'" >&2
	exit 2
	;;
esac
if [ $((year % 4)) -eq 0 ]; then
	echo leap
else
	echo common
fi
