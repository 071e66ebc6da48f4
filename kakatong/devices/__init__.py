"""The devices: the magnetic-stripe reader (reader.py, a thread on the serial port), the hub that
carries its swipes to a terminal's page (swipes.py), the receipt printer (printer.py: slip
layout, ESC/POS bytes, device addresses, the print queue) and each terminal's printing
(printing.py: what prints when, and the printer's state).

They may import the domain (a slip's content, a batch's totals) and the store; they never import
the web or Flask. The glue starts them and the web talks to them; the domain never imports them.
"""
