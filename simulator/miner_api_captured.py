"""Replies captured from real firmware, which the simulated miners answer with, their values scaled
to the simulated rig's state: the demo, the tests and real firmware share one wire format.

Origin: delawr0190/foreman-apps at commit 8f99ba0ebe8be5d4f13cad4d8871f1445fcd6007,
``foreman-antminer/src/test/java/mn/foreman/antminer/AntminerStatsITest.java`` case "Antminer S19
(really cold)" (an S19 Pro hashing normally: version, stats) and
``foreman-whatsminer/src/test/java/mn/foreman/whatsminer/WhatsminerStatsITest.java`` case
"Whatsminer M31S (new firmware)" (summary, pools). The same bytes are test fixtures under
``tests/captures/foreman``; a test keeps the two identical. Long replies are split across lines only
to fit the line length: the literals join into the firmware's bytes.
"""

from __future__ import annotations

S19PRO_VERSION = (
    b'{"STATUS": [{"STATUS": "S", "When": 1612807334, "Code": 22, "Msg": "CGMiner vers'
    b'ions", "Description": "cgminer 1.0.0"}], "VERSION": [{"BMMiner": "1.0.0", "API":'
    b' "3.1", "Miner": "49.0.1.3", "CompileTime": "Wed Oct 21 10:18:10 CST 2020", "Typ'
    b'e": "Antminer S19 Pro"}], "id": 1}'
)

S19PRO_STATS = (
    b'{"STATUS": [{"STATUS": "S", "When": 1612807334, "Code": 70, "Msg": "CGMiner stat'
    b's", "Description": "cgminer 1.0.0"}], "STATS": [{"BMMiner": "1.0.0", "Miner": "4'
    b'9.0.1.3", "CompileTime": "Wed Oct 21 10:18:10 CST 2020", "Type": "Antminer S19 P'
    b'ro"}, {"STATS": 0, "ID": "BTM_SOC0", "Elapsed": 82852, "Calls": 0, "Wait": 0, "M'
    b'ax": 0, "Min": 99999999, "GHS 5s": 110786.79, "GHS av": 111730.11, "rate_30m": 1'
    b'11975.81, "Mode": 2, "miner_count": 3, "frequency": 525, "fan_num": 4, "fan1": 5'
    b'520, "fan2": 5400, "fan3": 5040, "fan4": 5040, "temp_num": 3, "temp1": 22, "temp'
    b'2_1": 27, "temp2": 20, "temp2_2": 25, "temp3": 21, "temp2_3": 26, "temp_pcb1": "'
    b'2--1-20-22", "temp_pcb2": "2-1-20-19", "temp_pcb3": "1--2-21-19", "temp_pcb4": "'
    b'0-0-0-0", "temp_chip1": "7-4-25-27", "temp_chip2": "7-6-25-24", "temp_chip3": "6'
    b'-3-26-24", "temp_chip4": "0-0-0-0", "temp_pic1": "-8--11-10-12", "temp_pic2": "-'
    b'8--9-10-9", "temp_pic3": "-9--12-11-9", "temp_pic4": "0-0-0-0", "total_rateideal'
    b'": 111859.0, "rate_unit": "GH", "total_freqavg": 525, "total_acn": 342, "total r'
    b'ate": 111730.11, "temp_max": 0, "no_matching_work": 4548, "chain_acn1": 114, "ch'
    b'ain_acn2": 114, "chain_acn3": 114, "chain_acn4": 0, "chain_acs1": " ooo ooo ooo '
    b"ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo "
    b'ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo", "chain_acs2": " oo'
    b"o ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo oo"
    b'o ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo", "chain_a'
    b'cs3": " ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo '
    b'ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo ooo"'
    b', "chain_acs4": "", "chain_hw1": 1527, "chain_hw2": 2752, "chain_hw3": 269, "cha'
    b'in_hw4": 0, "chain_rate1": "37735.24", "chain_rate2": "38109.07", "chain_rate3":'
    b' "34942.48", "chain_rate4": "", "freq1": 525, "freq2": 525, "freq3": 525, "freq4'
    b'": 0, "miner_version": "49.0.1.3", "miner_id": "8060350c2b10481c"}], "id": 1}'
)

M31S_SUMMARY = (
    b'{"STATUS":[{"STATUS":"S","When":1612175432,"Code":11,"Msg":"Summary","Descriptio'
    b'n":"btminer"}],"SUMMARY":[{"Elapsed":33102,"MHS av":76718604.38,"MHS 5s":9276828'
    b'8.94,"MHS 1m":77909448.60,"MHS 5m":76943560.94,"MHS 15m":76766726.75,"HS RT":766'
    b'90808.44,"Found Blocks":0,"Getworks":1367,"Accepted":2296,"Rejected":1,"Hardware'
    b' Errors":0,"Utility":4.16,"Discarded":0,"Stale":0,"Get Failures":0,"Local Work":'
    b'629698680,"Remote Failures":0,"Network Blocks":170,"Total MH":2539516358593.0000'
    b',"Work Utility":0.00,"Difficulty Accepted":588906496.00000000,"Difficulty Reject'
    b'ed":262144.00000000,"Difficulty Stale":0.00000000,"Best Share":1320888597,"Tempe'
    b'rature":72.00,"freq_avg":710,"Fan Speed In":5700,"Fan Speed Out":0,"Voltage":120'
    b'6,"Power":3553,"Power_RT":3552,"Power Rate":46.31,"Device Hardware%":0.0000,"Dev'
    b'ice Rejected%":0.0000,"Pool Rejected%":0.0445,"Pool Stale%":0.0000,"Last getwork'
    b'":0,"Uptime":1405529,"Chip Data":"HPJA05-20070601 BINV02-193005F","Power Current'
    b'":276.626346,"Power Fanspeed":7608,"Error Code 0":110,"Error 0 Time":"","Error C'
    b'ode 1":111,"Error 1 Time":"","Error Code 2":131,"Error 2 Time":"","Factory Error'
    b' Code 0":208,"Error 3 Time":"","Factory Error Code 1":2310,"Error 4 Time":"","Er'
    b'ror Code Count":3,"Factory Error Code Count":2,"Security Mode":0,"Liquid Cooling'
    b'":false,"Hash Stable":true,"Hash Stable Cost Seconds":1373628,"Hash Deviation%":'
    b'0.0086,"Target Freq":652,"Target MHS":71472240,"Env Temp":7.00,"Power Mode":"Hig'
    b'h","Firmware Version":"\'20201202.22.REL\'","CB Platform":"ALLWINNER_H6OS","CB Ver'
    b'sion":"V10","MAC":"C6:06:12:00:2D:63","Factory GHS":75697,"Power Limit":3600,"Po'
    b'wer Voltage Input":229.50,"Power Current Input":15.58,"Chip Temp Min":48.00,"Chi'
    b'p Temp Max":93.00,"Chip Temp Avg":73.87,"Debug":"76.5/77.9T_46.4W_100.3/98.5_-3"'
    b'}],"id":1}'
)

M31S_POOLS = (
    b'{"STATUS":[{"STATUS":"S","When":1612175433,"Code":7,"Msg":"3 Pool(s)","Descripti'
    b'on":"btminer"}],"POOLS":[{"POOL":1,"URL":"stratum+tcp://btc.ss.poolin.com:443","'
    b'Status":"Alive","Priority":0,"Quota":1,"Long Poll":"N","Getworks":1367,"Accepted'
    b'":2296,"Rejected":1,"Works":897985052,"Discarded":0,"Stale":0,"Get Failures":0,"'
    b'Remote Failures":0,"User":"x.12x22","Last Share Time":1612175429,"Diff1 Shares":'
    b'0,"Proxy Type":"","Proxy":"","Difficulty Accepted":588906496.00000000,"Difficult'
    b'y Rejected":262144.00000000,"Difficulty Stale":0.00000000,"Last Share Difficulty'
    b'":262144.00000000,"Work Difficulty":0.00000000,"Has Stratum":true,"Stratum Activ'
    b'e":true,"Stratum URL":"x.ss.poolin.com","Stratum Difficulty":262144.00000000,"Ha'
    b's GBT":false,"Best Share":1320888597,"Pool Rejected%":0.0445,"Pool Stale%":0.000'
    b'0,"Bad Work":188,"Current Block Height":668600,"Current Block Version":536870912'
    b'},{"POOL":2,"URL":"stratum+tcp://btc.ss.poolin.com:1883","Status":"Alive","Prior'
    b'ity":1,"Quota":1,"Long Poll":"N","Getworks":0,"Accepted":0,"Rejected":0,"Works":'
    b'0,"Discarded":0,"Stale":0,"Get Failures":0,"Remote Failures":0,"User":"x.12x22",'
    b'"Last Share Time":0,"Diff1 Shares":0,"Proxy Type":"","Proxy":"","Difficulty Acce'
    b'pted":0.00000000,"Difficulty Rejected":0.00000000,"Difficulty Stale":0.00000000,'
    b'"Last Share Difficulty":0.00000000,"Work Difficulty":0.00000000,"Has Stratum":tr'
    b'ue,"Stratum Active":false,"Stratum URL":"","Stratum Difficulty":0.00000000,"Has '
    b'GBT":false,"Best Share":0,"Pool Rejected%":0.0000,"Pool Stale%":0.0000,"Bad Work'
    b'":0,"Current Block Height":0,"Current Block Version":536870912},{"POOL":3,"URL":'
    b'"stratum+tcp://btc.ss.poolin.com:25","Status":"Alive","Priority":2,"Quota":1,"Lo'
    b'ng Poll":"N","Getworks":0,"Accepted":0,"Rejected":0,"Works":0,"Discarded":0,"Sta'
    b'le":0,"Get Failures":0,"Remote Failures":0,"User":"x.12x22","Last Share Time":0,'
    b'"Diff1 Shares":0,"Proxy Type":"","Proxy":"","Difficulty Accepted":0.00000000,"Di'
    b'fficulty Rejected":0.00000000,"Difficulty Stale":0.00000000,"Last Share Difficul'
    b'ty":0.00000000,"Work Difficulty":0.00000000,"Has Stratum":true,"Stratum Active":'
    b'false,"Stratum URL":"","Stratum Difficulty":0.00000000,"Has GBT":false,"Best Sha'
    b're":0,"Pool Rejected%":0.0000,"Pool Stale%":0.0000,"Bad Work":0,"Current Block H'
    b'eight":0,"Current Block Version":536870912}],"id":1}'
)
