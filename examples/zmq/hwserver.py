#
#   Hello World server, as in the ZeroMQ guide (chapter 1), serving through weft.
#   The one change from the guide: the endpoint string. It binds a REP socket at
#   ipc://hello.sock in the directory it runs in; the node offers it to the mesh with
#       weft node --zmq offer/hello@ipc://$PWD/hello.sock
#   Expects "Hello" from client, replies with "World".
#
import time
import zmq

context = zmq.Context()
socket = context.socket(zmq.REP)
socket.bind("ipc://hello.sock")

while True:
    #  Wait for next request from client
    message = socket.recv()
    print(f"Received request: {message}")

    #  Do some 'work'
    time.sleep(1)

    #  Send reply back to client
    socket.send_string("World")
