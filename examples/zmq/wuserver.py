#
#   Weather update server, as in the ZeroMQ guide (chapter 1), publishing through weft.
#   The one change from the guide: the endpoint string. It binds a PUB socket at
#   ipc://weather.sock in the directory it runs in; the node publishes what it sends on
#   topic `weather` with
#       weft node --zmq pub/weather@ipc://$PWD/weather.sock
#   Publishes random weather updates.
#
from random import randrange

import zmq

context = zmq.Context()
socket = context.socket(zmq.PUB)
socket.bind("ipc://weather.sock")

while True:
    zipcode = randrange(1, 100000)
    temperature = randrange(-80, 135)
    relhumidity = randrange(10, 60)

    socket.send_string(f"{zipcode} {temperature} {relhumidity}")
